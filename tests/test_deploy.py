"""The deployment files in ``deploy/``: units that systemd accepts, an nginx config whose
upstreams are the app processes the units start, and the vLLM health check.

``systemd-analyze verify`` runs when it is installed (install paths such as
``/opt/tanuki-arena/.venv/bin/python`` are pointed at this machine's executables first);
the nginx config is parsed by crossplane everywhere, and by ``nginx -t`` where nginx is
installed. The structure is checked everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import crossplane
import pytest

from arena.api import MAX_API_BODY, MAX_BODY
from arena.config import Settings
from tests.conftest import ROOT, free_port
from tests.test_multiprocess import ROUTE_COOKIE

DEPLOY = ROOT / "deploy"
NGINX = DEPLOY / "nginx" / "tanuki-arena.conf"
HEALTH = DEPLOY / "vllm_health.py"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer", ".target"))
APP_UNITS = ("tanuki-arena@.service", "tanuki-arena.service", "tanuki-arena-migrate.service",
             "tanuki-arena-recompute.service")  # fmt: skip
VLLM_UNITS = ("tanuki-vllm-8b.service", "tanuki-vllm-8x8b.service")
#: Install paths in the units -> an executable on this machine, for systemd-analyze.
INSTALLED = {
    "/opt/tanuki-arena/.venv/bin/python": sys.executable,
    "/opt/vllm/bin/vllm": sys.executable,
    "/opt/vllm-tanuki/bin/python": sys.executable,
    "/usr/local/bin/tanuki-vllm-health": str(HEALTH),
}


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]} (keys may repeat; ``\\`` continues)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, f"{path.name}:{n}: not key=value: {raw!r}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, (section, key, found)
    return found[0]


def upstream_ports(conf: str) -> dict[str, list[int]]:
    """The ``server 127.0.0.1:PORT`` lines of each upstream block."""
    blocks = re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S)
    out = {}
    for name, body in blocks:
        servers = re.findall(r"^\s*server\s+([\d.]+):(\d+)", body, re.M)
        assert all(host == "127.0.0.1" for host, _ in servers), name
        out[name] = [int(port) for _, port in servers]
    return out


def test_every_unit_has_its_sections_and_keys() -> None:
    names = {p.name for p in UNITS}
    assert set(APP_UNITS) | set(VLLM_UNITS) | {"tanuki-arena@.service", "tanuki-arena.target",
                                              "tanuki-vllm-health@.service",
                                              "tanuki-vllm-health@.timer"} <= names  # fmt: skip
    for path in UNITS:
        unit = parse_unit(path)
        assert one(unit, "Unit", "Description"), path.name
        if path.suffix == ".service":
            exec_start = values(unit, "Service", "ExecStart")
            assert exec_start and all(cmd.startswith("/") for cmd in exec_start), path.name
            assert one(unit, "Service", "NoNewPrivileges") == "true", path.name
            assert one(unit, "Service", "PrivateTmp") == "true", path.name
            assert one(unit, "Service", "ProtectSystem") == "strict", path.name
        if path.suffix == ".timer":
            assert unit["Timer"], path.name
    for name in APP_UNITS:
        unit = parse_unit(DEPLOY / name)
        assert one(unit, "Service", "User") == "tanuki-arena"
        assert one(unit, "Service", "EnvironmentFile") == "/etc/tanuki-arena.env"
        assert "/var/lib/tanuki-arena" in one(unit, "Service", "ReadWritePaths").split()


def test_app_instances_take_their_port_from_the_instance_name() -> None:
    unit = parse_unit(DEPLOY / "tanuki-arena@.service")
    command = one(unit, "Service", "ExecStart")
    assert command.endswith("app.py --host 127.0.0.1 --port %i")  # reachable through nginx only
    assert "tanuki-arena-migrate.service" in one(unit, "Unit", "Requires")
    assert "tanuki-arena-migrate.service" in one(unit, "Unit", "After")
    assert one(unit, "Unit", "PartOf") == "tanuki-arena.target"


def test_nginx_upstreams_are_the_instances_the_target_starts() -> None:
    target = parse_unit(DEPLOY / "tanuki-arena.target")
    wanted = " ".join(values(target, "Unit", "Wants")).split()
    instance_ports = sorted(int(re.fullmatch(r"tanuki-arena@(\d+)\.service", w)[1]) for w in wanted)
    upstreams = upstream_ports(NGINX.read_text())
    assert set(upstreams) == {"tanuki_arena_page", "tanuki_arena_api"}
    for name, ports in upstreams.items():
        assert sorted(ports) == instance_ports, name
    assert len(instance_ports) >= 2 and len(set(instance_ports)) == len(instance_ports)


def test_nginx_closes_idle_upstream_connections_before_the_app_does() -> None:
    """A request nginx sends on a kept-alive connection just as the app closes it is lost
    (a POST is not retried): each upstream keeps connections, and lets them go sooner
    than the app would."""
    from app import KEEP_ALIVE_S

    blocks = dict(re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", NGINX.read_text(), re.S))
    for name, body in blocks.items():
        assert re.search(r"^\s*keepalive\s+\d+;", body, re.M), name
        timeout = re.search(r"^\s*keepalive_timeout\s+(\d+)s;", body, re.M)
        assert timeout and int(timeout[1]) < KEEP_ALIVE_S, name


def test_nginx_streams_routes_and_forwards_as_the_app_expects() -> None:
    conf = NGINX.read_text()
    directives = {m.strip() for m in re.findall(r"^\s*([^#{}\n]+;)", conf, re.M)}
    for expected in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_cache off;",
        "proxy_set_header X-Forwarded-For $remote_addr;",  # a client's own value is dropped
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "hash $tanuki_route consistent;",  # the page: sticky by route cookie
        "least_conn;",  # the API: any process
        "add_header Set-Cookie $tanuki_route_cookie always;",
    ):
        assert expected in directives, expected
    read = int(re.search(r"proxy_read_timeout (\d+)s;", conf)[1])
    assert read >= Settings().total_timeout
    assert f"$cookie_{ROUTE_COOKIE}" in conf and f'"{ROUTE_COOKIE}=$request_id;' in conf
    sizes = dict(re.findall(r"(location /api/ \{|server \{)[^}]*?client_max_body_size (\w+);",
                            conf, re.S))  # fmt: skip
    units = {"k": 1024, "m": 1024 * 1024}
    as_bytes = {k: int(v[:-1]) * units[v[-1]] for k, v in sizes.items()}
    assert as_bytes == {"server {": MAX_BODY, "location /api/ {": MAX_API_BODY}
    # nginx connects from 127.0.0.1: the one address whose X-Forwarded-For the app believes.
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "tanuki-arena.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["ARENA_TRUSTED_PROXIES"] == "127.0.0.1"
    assert env["DATABASE_URL"].startswith("postgresql://")


def test_vllm_units_serve_what_the_example_config_asks_for() -> None:
    example = tomllib.loads((ROOT / "arena.example.toml").read_text(encoding="utf-8"))
    by_model = {m.get("model"): m for m in example["models"]}
    gpus = []
    for name in VLLM_UNITS:
        unit = parse_unit(DEPLOY / name)
        command = one(unit, "Service", "ExecStart")
        served = re.search(r"--served-model-name (\S+)", command)[1]
        port = int(re.search(r"--port (\d+)", command)[1])
        assert by_model[served]["base_url"].endswith(f":{port}/v1"), name
        assert "--max-model-len 4096" in command
        wait = one(unit, "Service", "ExecStartPost")
        assert wait.startswith("/usr/local/bin/tanuki-vllm-health wait")
        assert port_of(f"argv[]={wait} ;") == port  # the health check asks the served port
        env = dict(v.split("=", 1) for v in values(unit, "Service", "Environment"))
        gpus.append(set(env["CUDA_VISIBLE_DEVICES"].split(",")))
        assert "VLLM_PORT" not in env  # vLLM's own internal variable, not the server's port
    assert not gpus[0] & gpus[1]  # pinned to different GPUs
    big = one(parse_unit(DEPLOY / "tanuki-vllm-8x8b.service"), "Service", "ExecStart")
    assert "--trust-remote-code" in big and "--tensor-parallel-size 2" in big
    assert len(gpus[1]) == 2


def port_of(text: str) -> int | None:
    sys.path.insert(0, str(DEPLOY))
    try:
        import vllm_health
    finally:
        sys.path.remove(str(DEPLOY))
    return vllm_health.port_of(text)


def test_vllm_health_reads_the_port_as_systemctl_shows_it() -> None:
    tool = "/usr/local/bin/tanuki-vllm-health"
    shown = f"{{ path={tool} ; argv[]={tool} wait --port 8001 --timeout 3000 ; ignore_errors=no }}"
    assert port_of(shown) == 8001
    assert port_of("{ path=/bin/true ; argv[]=/bin/true --port 9 ; }") is None


def test_vllm_health_wait_against_a_server(loopback) -> None:
    """``wait`` ends at once on a server whose /health answers 200, and gives up on a port
    where nothing listens."""
    command = [sys.executable, str(HEALTH), "wait", "--port", str(loopback.port), "--timeout", "10"]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    started = time.monotonic()
    closed = subprocess.run([sys.executable, str(HEALTH), "wait", "--port", str(free_port()),
                             "--timeout", "1.5", "--interval", "0.3"],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert closed.returncode == 1 and "no healthy answer" in closed.stderr
    assert time.monotonic() - started < 10


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    for path in UNITS:
        text = path.read_text(encoding="utf-8")
        for placeholder, real in INSTALLED.items():
            text = text.replace(placeholder, real)
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    # Templates are verified as instances (as systemctl would start them).
    for template, instance in (("tanuki-arena@.service", "tanuki-arena@7861.service"),
                               ("tanuki-vllm-health@.service",
                                "tanuki-vllm-health@tanuki-vllm-8b.service"),
                               ("tanuki-vllm-health@.timer",
                                "tanuki-vllm-health@tanuki-vllm-8b.timer")):  # fmt: skip
        shutil.copy(tmp_path / template, tmp_path / instance)
    names = [p.name for p in tmp_path.iterdir() if "@." not in p.name]
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if re.search(r"unknown|failed|invalid|ignoring|not executable|bad|error", line, re.I)
    ]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    # The site file inside a minimal main config, as nginx would include it. Parsed by
    # crossplane (NGINX's own parser library: syntax, includes, and each directive it knows
    # in its context with its number of arguments; not strict, as its 2022 table lacks
    # `http2` and reads map entries as directives); by ``nginx -t`` where it is installed.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    conf = NGINX.read_text()
    conf = conf.replace("/etc/letsencrypt/live/arena.example.org/fullchain.pem", str(cert))
    conf = conf.replace("/etc/letsencrypt/live/arena.example.org/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(conf)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    parsed = crossplane.parse(str(main), check_ctx=True, check_args=True)
    assert parsed["status"] == "ok", parsed["errors"]
    assert [c["file"] for c in parsed["config"]] == [str(main), str(tmp_path / "site.conf")]
    if not (shutil.which("nginx") and shutil.which("openssl")):
        return
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=arena.example.org", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    done = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(main)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_broken_nginx_config_is_caught(tmp_path: Path) -> None:
    # The check above can fail: a directive out of its place, a wrong number of
    # arguments, an unclosed block.
    for body, word in (("listen 80;", "not allowed here"),
                       ("proxy_buffering;", "invalid number of arguments"),
                       ("server {", "unexpected end of file")):  # fmt: skip
        bad = tmp_path / "nginx.conf"
        bad.write_text(f"events {{}}\nhttp {{\n  {body}\n}}\n")
        parsed = crossplane.parse(str(bad), check_ctx=True, check_args=True)
        assert parsed["status"] == "failed"
        assert word in parsed["errors"][0]["error"]
