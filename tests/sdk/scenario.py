"""A full scenario through the Python client generated from openapi.json (openapi-python-client), against a
running Homewatch: every call goes through the generated code and every answer must parse into the model
the spec promises. Exits non-zero on the first thing that is not so.

    python scenario.py BASE_URL TOKEN        (the client package must be importable: PYTHONPATH)
"""

import datetime
import http.server
import sys
import threading

import httpx

from homewatch_client import AuthenticatedClient, Client
from homewatch_client.api.access import get_auth_state, get_me, login
from homewatch_client.api.config import apply_config, export_config, import_config
from homewatch_client.api.dashboard import get_dashboard
from homewatch_client.api.groups import (
    create_group,
    delete_group,
    get_group,
    list_groups,
    reorder_groups,
    update_group,
)
from homewatch_client.api.monitoring import (
    push,
    push_start,
    renew_push_token,
    check_service,
    get_stats,
    list_incidents,
    list_results,
    pause_service,
    resume_service,
)
from homewatch_client.api.services import (
    create_service,
    delete_service,
    get_service,
    list_services,
    reorder_services,
    update_service,
)
from homewatch_client.api.alerts import (
    create_channel,
    get_channel,
    list_channels,
    list_notifications,
    test_channel,
    update_channel,
)
from homewatch_client.api.maintenance import create_maintenance, delete_maintenance, list_maintenance
from homewatch_client.api.posts import add_post_update, create_post, get_post, list_posts
from homewatch_client.api.status_pages import create_status_page, delete_status_page, list_status_pages, update_status_page
from homewatch_client.api.tokens import create_token, list_tokens, revoke_token
from homewatch_client.api.users import create_user, delete_user, get_user, list_users, update_user
from homewatch_client.models import (
    ApiToken,
    ConfigDocument,
    ConfigPlan,
    ImportResult,
    ImportSource,
    Channel,
    ChannelPatch,
    ChannelSettingsNtfySettings,
    ChannelSettingsNtfySettingsKind,
    ChannelSettingsWebhookSettings,
    ChannelSettingsWebhookSettingsKind,
    ChannelTestResult,
    MaintenanceWindow,
    NewChannel,
    NewMaintenance,
    NewPost,
    NewPostUpdate,
    NewStatusPage,
    Post,
    PostStatus,
    StatusPage,
    StatusPagePatch,
    StatusSection,
    Notification,
    CheckRun,
    CreatedToken,
    Dashboard,
    Group,
    GroupPatch,
    HttpCheck,
    HttpCheckKind,
    HttpMethod,
    Incident,
    KeywordCheck,
    KeywordCheckKind,
    LoginRequest,
    Me,
    NewGroup,
    NewOrder,
    NewService,
    NewToken,
    NewUser,
    Problem,
    Role,
    Scope,
    Service,
    ServicePage,
    ServicePatch,
    ServiceState,
    Stats,
    TcpCheck,
    TcpCheckKind,
    PushAccepted,
    PushCheck,
    PushCheckKind,
    PushStatus,
    PingCheck,
    PingCheckKind,
    TlsCheck,
    TlsCheckKind,
    JsonCondition,
    JsonOp,
    User,
    UserPatch,
    Window,
)
from homewatch_client.types import File, Response

CALLS = 0


def expect(response: Response, status: int, model: type):
    """The answer has this status and parses into this model (a list of it for `[model]`)."""
    global CALLS
    CALLS += 1
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content!r}"
    parsed = response.parsed
    if isinstance(model, list):
        assert isinstance(parsed, list), f"expected a list, got {parsed!r}"
        assert all(isinstance(item, model[0]) for item in parsed), parsed
    elif model is None:
        assert parsed is None, parsed
    else:
        assert isinstance(parsed, model), f"expected {model.__name__}, got {type(parsed).__name__}: {parsed!r}"
    return parsed


class Target(http.server.BaseHTTPRequestHandler):
    """A local service to watch: /health answers 200 with a keyword in the body; POST /hook takes webhooks."""

    HOOKS: list = []

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        Target.HOOKS.append((self.headers.get("x-homewatch-delivery"), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        body = b"all systems go"
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(base: str, token: str) -> None:
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    health = f"http://127.0.0.1:{target.server_address[1]}/health"

    anonymous = Client(base_url=f"{base}/api/v1")
    state = get_auth_state.sync_detailed(client=anonymous).parsed
    assert state is not None and state.setup_required is False, state
    client = AuthenticatedClient(base_url=f"{base}/api/v1", token=token)

    me = expect(get_me.sync_detailed(client=client), 200, Me)
    assert me.user.role == Role.ADMIN and me.scope == Scope.WRITE, me

    # Groups: create, read, rename, reorder.
    media = expect(create_group.sync_detailed(client=client, body=NewGroup(name="Media")), 201, Group)
    infra = expect(create_group.sync_detailed(client=client, body=NewGroup(name="Infra")), 201, Group)
    clash = expect(create_group.sync_detailed(client=client, body=NewGroup(name="media")), 409, Problem)
    assert clash.errors[0].field == "name", clash
    assert expect(get_group.sync_detailed(client=client, id=media.id), 200, Group).name == "Media"
    renamed = expect(update_group.sync_detailed(client=client, id=infra.id, body=GroupPatch(name="Home")), 200, Group)
    assert renamed.name == "Home" and renamed.created_at <= renamed.updated_at
    ordered = expect(
        reorder_groups.sync_detailed(client=client, body=NewOrder(ids=[infra.id, media.id])), 200, [Group]
    )
    assert [g.id for g in ordered] == [infra.id, media.id]
    assert len(expect(list_groups.sync_detailed(client=client), 200, [Group])) == 2

    # Tiles with checks of three kinds.
    web = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(
                group_id=media.id,
                name="Jellyfin",
                url=health,
                tags=["media", "video"],
                icon="🎬",
                check=HttpCheck(kind=HttpCheckKind.HTTP, interval_s=30, method=HttpMethod.GET, expected_status="200-299"),
            ),
        ),
        201,
        Service,
    )
    assert isinstance(web.check, HttpCheck) and web.check.timeout_s == 10, web.check
    word = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(
                group_id=media.id,
                name="Welcome",
                url=health,
                check=KeywordCheck(kind=KeywordCheckKind.KEYWORD, keyword="systems go"),
            ),
        ),
        201,
        Service,
    )
    port = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(
                group_id=infra.id, name="SSH", url="https://nas.lan", check=TcpCheck(kind=TcpCheckKind.TCP, target=f"127.0.0.1:{target.server_address[1]}")
            ),
        ),
        201,
        Service,
    )
    link = expect(
        create_service.sync_detailed(
            client=client, body=NewService(group_id=infra.id, name="Wiki", url="https://wiki.lan", description="Notes")
        ),
        201,
        Service,
    )
    assert link.check is None and link.icon is None
    bad = expect(
        create_service.sync_detailed(client=client, body=NewService(group_id=media.id, name="Bad", url="ftp://x")),
        422,
        Problem,
    )
    assert [e.field for e in bad.errors] == ["url"], bad
    missing = expect(
        create_service.sync_detailed(client=client, body=NewService(group_id=999999, name="Lost", url=health)),
        404,
        Problem,
    )
    assert "group 999999" in missing.detail, missing

    got = expect(get_service.sync_detailed(client=client, id=web.id), 200, Service)
    assert got.tags == ["media", "video"] and got.icon == "🎬"

    # Lists: filters and pages.
    page = expect(list_services.sync_detailed(client=client, limit=2), 200, ServicePage)
    assert len(page.items) == 2 and isinstance(page.next_cursor, str), page
    rest = expect(list_services.sync_detailed(client=client, limit=2, cursor=page.next_cursor), 200, ServicePage)
    assert len(rest.items) == 2 and rest.next_cursor is None, rest
    assert {s.id for s in page.items + rest.items} == {web.id, word.id, port.id, link.id}
    tagged = expect(list_services.sync_detailed(client=client, tag="video"), 200, ServicePage)
    assert [s.id for s in tagged.items] == [web.id]
    in_infra = expect(list_services.sync_detailed(client=client, group_id=infra.id, q="ssh"), 200, ServicePage)
    assert [s.id for s in in_infra.items] == [port.id]

    # Patch, move, reorder, delete.
    patched = expect(
        update_service.sync_detailed(client=client, id=link.id, body=ServicePatch(description="All notes", icon="📚")),
        200,
        Service,
    )
    assert patched.description == "All notes" and patched.icon == "📚"
    moved = expect(update_service.sync_detailed(client=client, id=link.id, body=ServicePatch(group_id=media.id)), 200, Service)
    assert moved.group_id == media.id and moved.position == 2
    tiles = expect(
        reorder_services.sync_detailed(client=client, id=media.id, body=NewOrder(ids=[link.id, word.id, web.id])),
        200,
        [Service],
    )
    assert [t.id for t in tiles] == [link.id, word.id, web.id]
    expect(delete_service.sync_detailed(client=client, id=link.id), 204, None)
    expect(get_service.sync_detailed(client=client, id=link.id), 404, Problem)

    # Watching: check now, pause and resume, results, stats, incidents.
    run = expect(check_service.sync_detailed(client=client, id=web.id), 200, CheckRun)
    assert run.result.ok and run.status.state == ServiceState.UP, run
    assert expect(check_service.sync_detailed(client=client, id=word.id), 200, CheckRun).result.ok
    paused = expect(pause_service.sync_detailed(client=client, id=port.id), 200, Service)
    assert paused.status.state == ServiceState.PAUSED
    refused = expect(check_service.sync_detailed(client=client, id=port.id), 409, Problem)
    assert "paused" in refused.detail
    resumed = expect(resume_service.sync_detailed(client=client, id=port.id), 200, Service)
    assert resumed.status.state == ServiceState.UNKNOWN
    results = expect(list_results.sync_detailed(client=client, id=web.id, limit=10), 200, [type(run.result)])
    assert results and results[0].ok and isinstance(results[0].checked_at, datetime.datetime)
    stats = expect(get_stats.sync_detailed(client=client, id=web.id, window=Window.DAY), 200, Stats)
    assert stats.uptime_percent == 100.0 and len(stats.series) == 24, stats
    expect(list_incidents.sync_detailed(client=client, service_id=web.id), 200, [Incident])

    dashboard = expect(get_dashboard.sync_detailed(client=client), 200, Dashboard)
    assert [g.id for g in dashboard.groups] == [infra.id, media.id]
    shown = {tile.id: tile for group in dashboard.groups for tile in group.services}
    assert shown[web.id].uptime_24h == 100.0 and len(shown[web.id].latency_24h) == 24

    # Tokens and users.
    created = expect(
        create_token.sync_detailed(client=client, body=NewToken(name="reader", scope=Scope.READ)), 201, CreatedToken
    )
    assert created.token.startswith("hw_") and created.scope == Scope.READ
    reader = AuthenticatedClient(base_url=f"{base}/api/v1", token=created.token)
    assert len(expect(list_groups.sync_detailed(client=reader), 200, [Group])) == 2
    expect(create_group.sync_detailed(client=reader, body=NewGroup(name="Nope")), 403, Problem)
    assert any(t.id == created.id for t in expect(list_tokens.sync_detailed(client=client), 200, [ApiToken]))
    expect(revoke_token.sync_detailed(client=client, id=created.id), 204, None)
    expect(list_groups.sync_detailed(client=reader), 401, Problem)

    vera = expect(
        create_user.sync_detailed(client=client, body=NewUser(username="vera", password="vera-password-1", role=Role.VIEWER)),
        201,
        User,
    )
    assert expect(get_user.sync_detailed(client=client, id=vera.id), 200, User).role == Role.VIEWER
    assert len(expect(list_users.sync_detailed(client=client), 200, [User])) >= 2
    session = login.sync_detailed(client=anonymous, body=LoginRequest(username="vera", password="vera-password-1"))
    expect(session, 200, Me)
    promoted = expect(update_user.sync_detailed(client=client, id=vera.id, body=UserPatch(role=Role.ADMIN)), 200, User)
    assert promoted.role == Role.ADMIN
    expect(delete_user.sync_detailed(client=client, id=vera.id), 204, None)

    # Alerts: a webhook channel (its URL is a secret, answered masked), a test message, the log; maintenance.
    hook_url = health.replace("/health", "/hook")
    channel = expect(
        create_channel.sync_detailed(
            client=client,
            body=NewChannel(
                name="Hook",
                settings=ChannelSettingsWebhookSettings(kind=ChannelSettingsWebhookSettingsKind.WEBHOOK, url=hook_url),
                all_tiles=True,
            ),
        ),
        201,
        Channel,
    )
    assert isinstance(channel.settings, ChannelSettingsWebhookSettings), channel.settings
    assert channel.settings.url.endswith("/(hidden)"), channel.settings.url
    tested = expect(test_channel.sync_detailed(client=client, id=channel.id), 200, ChannelTestResult)
    assert tested.ok and Target.HOOKS and Target.HOOKS[-1][0].startswith("hw:test:"), tested
    phone = expect(
        create_channel.sync_detailed(
            client=client,
            body=NewChannel(
                name="Phone",
                settings=ChannelSettingsNtfySettings(kind=ChannelSettingsNtfySettingsKind.NTFY, topic="homelab", token="tk_1"),
                groups=[media.id],
                remind_every_min=30,
            ),
        ),
        201,
        Channel,
    )
    assert isinstance(phone.settings, ChannelSettingsNtfySettings) and phone.settings.token == "(hidden)"
    renamed_phone = expect(
        update_channel.sync_detailed(client=client, id=phone.id, body=ChannelPatch(name="My phone", enabled=False)),
        200,
        Channel,
    )
    assert renamed_phone.name == "My phone" and renamed_phone.groups == [media.id] and not renamed_phone.enabled
    assert len(expect(list_channels.sync_detailed(client=client), 200, [Channel])) == 2
    expect(get_channel.sync_detailed(client=client, id=999999), 404, Problem)
    expect(list_notifications.sync_detailed(client=client), 200, [Notification])
    window = expect(
        create_maintenance.sync_detailed(
            client=client,
            body=NewMaintenance(title="Patch night", duration_min=60, rrule="FREQ=DAILY",
                                timezone="Europe/Berlin", all_tiles=True),
        ),
        201,
        MaintenanceWindow,
    )
    # Starts now, so the first occurrence is on: the tiles are in maintenance for the next hour.
    assert window.active and window.timezone == "Europe/Berlin", window
    assert window.current_or_next_end - window.current_or_next_start == datetime.timedelta(minutes=60), window
    assert len(expect(list_maintenance.sync_detailed(client=client), 200, [MaintenanceWindow])) == 1
    expect(delete_maintenance.sync_detailed(client=client, id=window.id), 204, None)

    # More kinds: ping, tls, JSON conditions, and a push check called through the client.
    ping = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(group_id=infra.id, name="Router", url="http://127.0.0.1/",
                            check=PingCheck(kind=PingCheckKind.PING, packets=2, loss_down_pct=50)),
        ),
        201,
        Service,
    )
    assert isinstance(ping.check, PingCheck) and ping.check.packets == 2
    tls = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(group_id=infra.id, name="Proxy TLS", url="https://proxy.lan/",
                            check=TlsCheck(kind=TlsCheckKind.TLS, cert_warn_days=21, degraded_above_ms=500)),
        ),
        201,
        Service,
    )
    assert isinstance(tls.check, TlsCheck) and tls.check.cert_warn_days == 21
    api = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(group_id=infra.id, name="API health", url=f"http://127.0.0.1:{target.server_address[1]}/",
                            check=HttpCheck(kind=HttpCheckKind.HTTP,
                                            json=[JsonCondition(path="$.status", op=JsonOp.VALUE_0, value="ok")])),
        ),
        201,
        Service,
    )
    assert isinstance(api.check, HttpCheck) and api.check.json[0].path == "$.status"
    job = expect(
        create_service.sync_detailed(
            client=client,
            body=NewService(group_id=infra.id, name="Backup job", url="http://nas.lan/",
                            check=PushCheck(kind=PushCheckKind.PUSH, schedule="30 3 * * *", timezone="Europe/Berlin")),
        ),
        201,
        Service,
    )
    assert isinstance(job.check, PushCheck) and len(job.check.token) == 32 and job.check.grace_s == 300
    expect(push_start.sync_detailed(client=anonymous, token=job.check.token), 200, PushAccepted)
    expect(push.sync_detailed(client=anonymous, token=job.check.token, status=PushStatus.UP, duration_ms=1200), 200, PushAccepted)
    expect(push.sync_detailed(client=anonymous, token="no-such-token-anywhere"), 404, Problem)
    renewed = expect(renew_push_token.sync_detailed(client=client, id=job.id), 200, Service)
    assert renewed.check.token != job.check.token

    # Public faces: a status page of the infra group, a post with an update, and what anyone may read.
    page = expect(
        create_status_page.sync_detailed(
            client=client,
            body=NewStatusPage(slug="infra", title="Infrastructure", sections=[StatusSection(group_id=infra.id)]),
        ),
        201,
        StatusPage,
    )
    assert not page.published and page.path == "/status/infra", page
    expect(create_status_page.sync_detailed(client=client, body=NewStatusPage(slug="Not a slug", title="x")), 422, Problem)
    page = expect(update_status_page.sync_detailed(client=client, id=page.id, body=StatusPagePatch(published=True)),
                  200, StatusPage)
    assert page.published and len(expect(list_status_pages.sync_detailed(client=client), 200, [StatusPage])) == 1
    post = expect(
        create_post.sync_detailed(client=client, body=NewPost(title="Router reboot", body="Back in **5** minutes.",
                                                              services=[ping.id])),
        201,
        Post,
    )
    assert post.status == PostStatus.INVESTIGATING and post.services == [ping.id], post
    post = expect(add_post_update.sync_detailed(client=client, id=post.id,
                                                body=NewPostUpdate(status=PostStatus.RESOLVED, body="Done.")), 201, Post)
    assert post.resolved_at is not None and [u.status for u in post.updates] == [PostStatus.RESOLVED, PostStatus.INVESTIGATING]
    assert expect(get_post.sync_detailed(client=client, id=post.id), 200, Post).title == "Router reboot"
    assert len(expect(list_posts.sync_detailed(client=client), 200, [Post])) == 1
    html = httpx.get(f"{base}/status/infra")
    assert html.status_code == 200 and "Router reboot" in html.text and "Infrastructure" in html.text, html.status_code
    badge = httpx.get(f"{base}/badge/{ping.id}/status.json")
    assert badge.status_code == 200 and badge.json()["schemaVersion"] == 1, badge.text
    expect(delete_status_page.sync_detailed(client=client, id=page.id), 204, None)

    # Configuration as code: the export parses into its model, a YAML document is planned (not applied), and
    # a Homepage file is imported and imported again (nothing twice).
    plain = expect(export_config.sync_detailed(client=client), 200, ConfigDocument)
    assert hook_url not in str(plain.to_dict()), "secrets are references unless asked for"
    document = expect(export_config.sync_detailed(client=client, include_secrets=True), 200, ConfigDocument)
    names = {g.name for g in expect(list_groups.sync_detailed(client=client), 200, [Group])}
    assert {g.name for g in document.groups} == names, (document.groups, names)
    yaml = b"version: 1\ngroups:\n  - name: From YAML\n    tiles:\n      - {name: Docs, url: 'https://docs.lan'}\n"
    plan = expect(apply_config.sync_detailed(client=client, body=File(payload=yaml), dry_run=True), 200, ConfigPlan)
    assert not plan.applied and plan.created == 2, plan
    plan = expect(apply_config.sync_detailed(client=client, body=document, dry_run=True), 200, ConfigPlan)
    assert plan.changes == [], plan.changes
    homepage = b"- Lab:\n    - Printer:\n        href: http://printer.lan\n        widget: {type: printer}\n"
    imported = expect(import_config.sync_detailed(client=client, body=File(payload=homepage), from_=ImportSource.HOMEPAGE),
                      200, ImportResult)
    assert imported.plan.applied and imported.tiles == 1 and imported.skipped[0].what == "widget", imported
    again = expect(import_config.sync_detailed(client=client, body=File(payload=homepage), from_=ImportSource.HOMEPAGE),
                   200, ImportResult)
    assert not again.plan.applied and again.plan.changes == [], again
    lab = [g for g in expect(list_groups.sync_detailed(client=client), 200, [Group]) if g.name == "Lab"][0]
    expect(delete_group.sync_detailed(client=client, id=lab.id, cascade=True), 204, None)

    # Clean up: a group with tiles goes only with cascade.
    expect(delete_group.sync_detailed(client=client, id=media.id), 409, Problem)
    expect(delete_group.sync_detailed(client=client, id=media.id, cascade=True), 204, None)
    expect(delete_group.sync_detailed(client=client, id=infra.id, cascade=True), 204, None)
    target.shutdown()
    print(f"scenario passed: {CALLS} calls through the generated client, every answer parsed into its model")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
