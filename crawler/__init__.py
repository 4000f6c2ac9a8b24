"""The Scrapy project: spiders yield PostItems and know nothing of what happens next."""
