"""The JSON API against its own OpenAPI document: schemathesis generates requests for every
operation (signed in, with the CSRF token) and the app must never answer 5xx; plus the API's
own scoping and a round trip through the review actions."""

from __future__ import annotations

import json

import hypothesis
import schemathesis
from hypothesis import HealthCheck

from artwatch import web
from tests.web_support import Client, seed_hit, serving

# Left to the tests below: one calls whatever webhook URL a generated request stored, the
# other ends the session the generated requests use.
OUT_OF_BAND = {("POST", "/api/settings/webhook-test"), ("DELETE", "/api/session")}


def test_generated_requests_never_get_a_server_error(store):
    ana = store.add_artist("Ana", "ana@example.org")
    seed_hit(store, ana, 1)
    with serving(store) as base:
        client = Client(base)
        client.sign_in(web.new_login_token(store, ana))
        csrf = json.loads(client.get("/api/session")[2])["csrf_token"]
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        failures, calls = [], []
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in OUT_OF_BAND:
                continue

            @hypothesis.settings(
                max_examples=30,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy())
            def call(case):
                response = case.call(
                    base_url=base, headers={"X-CSRF-Token": csrf}, cookies=client.cookies
                )
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append((case.method, case.formatted_path, response.status_code))

            call()
        assert failures == []
        assert len(calls) > 100 and {200, 404, 422} <= set(calls)
        # The generated requests never signed the artist out or broke the session.
        assert client.get("/api/session")[0] == 200


def test_review_round_trip_through_the_api(store):
    ana = store.add_artist("Ana", "ana@example.org")
    hits = [seed_hit(store, ana, seed) for seed in (1, 2)]
    with serving(store) as base:
        client = Client(base)
        assert client.get("/api/hits")[0] == 401
        client.sign_in(web.new_login_token(store, ana))
        csrf = json.loads(client.get("/api/session")[2])["csrf_token"]
        page = json.loads(client.get("/api/hits?status=new")[2])
        assert [h["id"] for h in page["hits"]] == hits[::-1]  # newest first
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        body = json.dumps({"ids": hits, "status": "confirmed"}).encode()
        assert json.loads(client.request("POST", "/api/hits/status", body, headers)[2]) == {
            "changed": 2
        }
        body = json.dumps({"status": "new"}).encode()
        answer = json.loads(client.request("POST", f"/api/hits/{hits[0]}/status", body, headers)[2])
        assert answer["status"] == "new"
        assert json.loads(client.get("/api/hits?status=confirmed")[2])["total"] == 1
        spec = json.loads(client.get("/openapi.json")[2])
        assert "/api/hits/{hit_id}/status" in spec["paths"]
        assert client.request("DELETE", "/api/session", b"", headers)[0] == 200
        assert client.get("/api/hits")[0] == 401
