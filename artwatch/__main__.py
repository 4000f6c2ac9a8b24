from artwatch.cli import main

main()
