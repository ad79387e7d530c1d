"""The OpenADR 3.0.1 VTN of ``gridledger serve``: the client-credentials flow, programs, events
and reports in the spec's JSON shape, who may do what, Problem errors, and the objects surviving
a restart."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_platform import TestClient, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.operator.openadr import IntervalPeriod, limit_event
from gridledger.service.vtn import default_program_id

V = "/openadr3/3.0.1"


class Vtn:
    def __init__(self, tmp: Path) -> None:
        self.platform, self.clock = make_platform(
            tmp, households=5, telemetry_url=f"memory://{tmp.name}"
        )
        run_minutes(self.platform, self.clock, 2)
        self.client = TestClient(create_app(self.platform))
        hood = self.platform.neighbourhoods["central"]
        self.a, self.b = hood.sites[0], hood.sites[1]
        self.session = {
            "a": login(self.client, self.platform, self.a.owner),
            "b": login(self.client, self.platform, self.b.owner),
            "operator": login(self.client, self.platform, self.platform.operator_key),
        }
        self.client.cookies.clear()

    def ven_token(self, who: str, site_id: str) -> str:
        creds = self.client.post(
            f"/api/v1/sites/{site_id}/ven-credentials", headers=bearer(self.session[who])
        )
        assert creds.status_code == 201, creds.text
        body = creds.json()
        assert body["ven_name"] == site_id and body["token_url"].endswith(f"{V}/auth/token")
        token = self.client.post(
            f"{V}/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": body["client_id"],
                "client_secret": body["client_secret"],
            },
        )
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "Bearer" and token.json()["expires_in"] > 0
        return str(token.json()["access_token"])

    def limit_doc(self, targets: list[str]) -> dict[str, Any]:
        start = self.platform.regions["central"].open_slot().next().start
        event = limit_event(
            "", default_program_id("central"), IntervalPeriod(start, 900), 500, targets
        )
        return event.to_json()


@pytest.fixture
def vtn(tmp_path: Path) -> Iterator[Vtn]:
    v = Vtn(tmp_path)
    yield v
    v.client.close()
    v.platform.stop()


def test_client_credentials_flow_and_spec_shapes(vtn: Vtn) -> None:
    c = vtn.client
    server = c.get(f"{V}/auth/server").json()
    assert server["tokenURL"].endswith(f"{V}/auth/token")
    token_a = vtn.ven_token("a", vtn.a.site_id)
    programs = c.get(f"{V}/programs", headers=bearer(token_a))
    assert programs.status_code == 200, programs.text
    [program] = programs.json()
    assert program["id"] == default_program_id("central")
    assert program["objectType"] == "PROGRAM"
    assert {"createdDateTime", "modificationDateTime", "programName"} <= set(program)
    op = bearer(vtn.session["operator"])
    posted = c.post(f"{V}/events", json=vtn.limit_doc([vtn.a.site_id]), headers=op)
    assert posted.status_code == 201, posted.text
    event = posted.json()
    assert event["objectType"] == "EVENT" and event["id"] and event["createdDateTime"]
    assert event["intervals"][0]["payloads"] == [{"type": "IMPORT_CAPACITY_LIMIT", "values": [0.5]}]
    seen = c.get(f"{V}/events", params={"programID": program["id"]}, headers=bearer(token_a))
    assert [e["id"] for e in seen.json()] == [event["id"]]
    # B is not targeted: it does not see the event, nor A's name
    token_b = vtn.ven_token("b", vtn.b.site_id)
    assert c.get(f"{V}/events", headers=bearer(token_b)).json() == []
    assert c.get(f"{V}/events/{event['id']}", headers=bearer(token_b)).status_code == 404
    # HTTP Basic works as well as form fields; a wrong secret is a 401 Problem
    creds = c.post(
        f"/api/v1/sites/{vtn.b.site_id}/ven-credentials", headers=bearer(vtn.session["b"])
    ).json()
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    ok = c.post(
        f"{V}/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert ok.status_code == 200, ok.text
    bad = c.post(
        f"{V}/auth/token",
        data={"grant_type": "client_credentials", "client_id": creds["client_id"],
              "client_secret": "wrong"},
    )  # fmt: skip
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["status"] == 401 and bad.json()["detail"]
    # the old token of B ended with its replaced credentials
    assert c.get(f"{V}/programs", headers=bearer(token_b)).status_code == 401


def test_vens_read_and_report_for_themselves_only(vtn: Vtn) -> None:
    c = vtn.client
    op = bearer(vtn.session["operator"])
    event = c.post(f"{V}/events", json=vtn.limit_doc([]), headers=op).json()
    token_a = vtn.ven_token("a", vtn.a.site_id)
    # a VEN cannot write programs or events
    assert c.post(f"{V}/events", json=vtn.limit_doc([]), headers=bearer(token_a)).status_code == 403
    assert c.delete(f"{V}/events/{event['id']}", headers=bearer(token_a)).status_code == 403
    start = IntervalPeriod.from_json(event["intervalPeriod"])
    report: dict[str, Any] = {
        "objectType": "REPORT", "programID": event["programID"], "eventID": event["id"],
        "clientName": vtn.a.site_id,
        "resources": [{
            "resourceName": vtn.a.site_id, "intervalPeriod": start.to_json(),
            "intervals": [{"id": 0, "payloads": [
                {"type": "BASELINE", "values": [120]}, {"type": "USAGE", "values": [40]},
            ]}],
        }],
    }  # fmt: skip
    posted = c.post(f"{V}/reports", json=report, headers=bearer(token_a))
    assert posted.status_code == 201, posted.text
    rid = posted.json()["id"]
    assert posted.json()["objectType"] == "REPORT"
    # as openadr3-client sends one: nulls for the optional fields, no period on the resource
    nulls = report | {"reportName": None, "payloadDescriptors": None, "objectType": None}
    nulls["resources"] = [report["resources"][0] | {"intervalPeriod": None}]
    client_style = c.post(f"{V}/reports", json=nulls, headers=bearer(token_a))
    assert client_style.status_code == 201, client_style.text
    served = client_style.json()["resources"][0]["intervalPeriod"]
    assert served == event["intervalPeriod"]  # the event's period
    assert all("objectType" not in d for d in client_style.json()["payloadDescriptors"])
    forged = dict(report, clientName=vtn.b.site_id)
    assert c.post(f"{V}/reports", json=forged, headers=bearer(token_a)).status_code == 404
    # the report is A's and the operator's to read, not B's
    assert c.get(f"{V}/reports/{rid}", headers=bearer(token_a)).status_code == 200
    assert c.get(f"{V}/reports/{rid}", headers=op).json()["clientName"] == vtn.a.site_id
    assert c.get(f"{V}/reports/{rid}", headers=bearer(vtn.session["b"])).status_code == 404
    assert c.get(f"{V}/reports", headers=bearer(vtn.session["b"])).json() == []
    vens = c.get(f"{V}/vens", headers=bearer(token_a)).json()
    assert [v["venName"] for v in vens] == [vtn.a.site_id]
    assert len(c.get(f"{V}/vens", headers=op).json()) == 5


def test_operator_manages_programs_and_events_and_they_survive_a_restart(
    vtn: Vtn, tmp_path: Path
) -> None:
    c = vtn.client
    bl = c.post("/api/v1/regions/central/vtn-credentials", headers=bearer(vtn.session["operator"]))
    assert bl.status_code == 201, bl.text
    token = c.post(
        f"{V}/auth/token",
        data={"grant_type": "client_credentials", "client_id": bl.json()["client_id"],
              "client_secret": bl.json()["client_secret"]},
    ).json()["access_token"]  # fmt: skip
    op = bearer(token)
    made = c.post(f"{V}/programs", json={"programName": "evening-peak"}, headers=op)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    assert made.json()["targets"] == [{"type": "REGION", "values": ["central"]}]
    assert (
        c.post(f"{V}/programs", json={"programName": "evening-peak"}, headers=op).status_code == 409
    )
    put = c.put(f"{V}/programs/{pid}", json={"programName": "evening-peak",
                "programLongName": "Evening peak"}, headers=op)  # fmt: skip
    assert put.status_code == 200 and put.json()["programLongName"] == "Evening peak"
    doc = vtn.limit_doc([vtn.a.site_id]) | {"programID": pid}
    event = c.post(f"{V}/events", json=doc, headers=op).json()
    changed = c.put(f"{V}/events/{event['id']}", json=doc | {"eventName": "tighter"}, headers=op)
    assert changed.status_code == 200 and changed.json()["eventName"] == "tighter"
    assert changed.json()["modificationDateTime"]
    bad = c.post(f"{V}/events", json=doc | {"intervalPeriod": {"start": "x"}}, headers=op)
    assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid")
    gone = c.post(f"{V}/programs", json={"programName": "tmp"}, headers=op).json()["id"]
    assert c.delete(f"{V}/programs/{gone}", headers=op).json()["id"] == gone
    assert c.get(f"{V}/programs/{gone}", headers=op).status_code == 404
    opted = c.put(
        f"/api/v1/sites/{vtn.a.site_id}/demand-response/opt-out",
        json={"program_id": pid}, headers=bearer(vtn.session["a"]),
    )  # fmt: skip
    assert opted.status_code == 200, opted.text
    vtn.client.close()
    vtn.platform.stop()
    again, _ = make_platform(
        tmp_path, households=5, clock=vtn.clock, telemetry_url=f"memory://{tmp_path.name}-2"
    )
    vtn.platform = again
    vtn.client = TestClient(create_app(again))
    assert again.vtn is not None
    assert again.vtn.programs[pid].long_name == "Evening peak"
    assert again.vtn.events[event["id"]].name == "tighter"
    assert gone not in again.vtn.programs
    assert (pid, vtn.a.site_id) in again.vtn.program_opt_outs  # the opt-out too
    assert not again.vens["central"].following(again.vtn.events[event["id"]])[0]
    # the BL credentials were kept too
    relogin = vtn.client.post(
        f"{V}/auth/token",
        data={"grant_type": "client_credentials", "client_id": bl.json()["client_id"],
              "client_secret": bl.json()["client_secret"]},
    )  # fmt: skip
    assert relogin.status_code == 200


def test_outsiders_get_problems(vtn: Vtn) -> None:
    c = vtn.client
    assert c.get(f"{V}/programs").status_code == 401
    r = c.get(f"{V}/events", headers=bearer("not-a-token"))
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert c.post(f"{V}/auth/token", data={"grant_type": "password"}).status_code == 422


def test_a_household_opts_out_of_one_event_and_back_in(vtn: Vtn) -> None:
    c = vtn.client
    op = bearer(vtn.session["operator"])
    event = c.post(f"{V}/events", json=vtn.limit_doc([]), headers=op).json()
    vens = vtn.platform.vens["central"]
    live = vtn.platform.vtn
    assert live is not None
    a_index = vens.names.index(vtn.a.site_id)
    assert vens.following(live.events[event["id"]])[a_index]
    url = f"/api/v1/sites/{vtn.a.site_id}/demand-response"
    view = c.get(url, headers=bearer(vtn.session["a"])).json()
    assert [e["takes_part"] for e in view["events"]] == [True]
    assert view["alerts"][0]["alert"] == "event"  # the posting told A
    out = c.put(url + "/opt-out", json={"event_id": event["id"]}, headers=bearer(vtn.session["a"]))
    assert out.status_code == 200, out.text
    [part] = out.json()["events"]
    assert part["takes_part"] is False and part["opted_out_of_event"] is True
    assert not vens.following(live.events[event["id"]])[a_index]
    # B's VEN still follows; B cannot opt A out; one of the two ids exactly
    assert vens.following(live.events[event["id"]])[vens.names.index(vtn.b.site_id)]
    theirs = c.put(
        url + "/opt-out", json={"event_id": event["id"]}, headers=bearer(vtn.session["b"])
    )
    assert theirs.status_code == 404
    both = c.put(
        url + "/opt-out", json={"event_id": event["id"], "program_id": "central-dr"},
        headers=bearer(vtn.session["a"]),
    )  # fmt: skip
    assert both.status_code == 422
    back = c.put(
        url + "/opt-out", json={"event_id": event["id"], "opted_out": False},
        headers=bearer(vtn.session["a"]),
    )  # fmt: skip
    assert back.json()["events"][0]["takes_part"] is True
    assert vens.following(live.events[event["id"]])[a_index]
