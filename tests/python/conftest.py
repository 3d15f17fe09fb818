"""Starts the built `veil` binary on its defaults (echo models, SQLite in a
temp dir, bootstrap key) for the SDK tests. TEST_VEIL_BIN overrides the binary."""

import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# PII values the media and document tests put into images and PDFs: none
# may reach the upstream.
PII = {
    "person": "Margaret Thornton",
    "email": "m.thornton@example.org",
    "phone": "+1 415 555 0134",
    "card": "4539 1488 0343 6467",
    "iban": "GB82 WEST 1234 5698 7654 32",
}


def clean_env(extra: dict | None = None) -> dict:
    """The environment without VEIL_* variables (every one is a config
    override, and an unknown one stops Veil)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEIL_")}
    env.update(extra or {})
    return env


def veil_bin() -> str:
    path = os.environ.get("TEST_VEIL_BIN") or str(ROOT / "target" / "debug" / "veil")
    if not os.path.exists(path):
        pytest.exit(f"veil binary not found at {path}; run `cargo build` first", returncode=2)
    return path


class Veil:
    def __init__(self, base_url: str, key: str, process: subprocess.Popen, workdir: str):
        self.base_url = base_url
        self.key = key
        self.process = process
        self.workdir = workdir
        self.config = str(pathlib.Path(workdir) / "veil.toml")
        self.root = base_url.removesuffix("/v1")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def cli(self, *args: str) -> str:
        """Runs a `veil` subcommand on this server's config; returns stdout."""
        out = subprocess.run(
            [veil_bin(), "--config", self.config, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=clean_env(),
        )
        return out.stdout

    def new_key(self, wallet: str, *extra: str) -> str:
        return self.cli("keys", "create", "--wallet", wallet, "--test", *extra).splitlines()[-1]


def start_veil(extra_config: str = "", env_extra: dict | None = None, workdir: str | None = None) -> Veil:
    """Starts `veil serve` in `workdir` (a new temp dir unless given: pass the
    same one to restart on the same database)."""
    workdir = workdir or tempfile.mkdtemp(prefix="veil-py-")
    config = pathlib.Path(workdir) / "veil.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\ndatabase_url = "sqlite://{workdir}/veil.db"\n{extra_config}'
    )
    env = clean_env(env_extra)
    process = subprocess.Popen(
        [veil_bin(), "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    key = None
    for _ in range(10):  # bounded: the banner is three lines
        line = process.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line.startswith("vk_test_"):
            key = line
        if line.startswith("Veil listening on "):
            base = line.removeprefix("Veil listening on ")
            # `key` is None on a restart: the store already has keys.
            return Veil(base + "/v1", key, process, workdir)
    process.kill()
    raise RuntimeError("veil did not start")


def start_veil_with_mock(wallet: str, extra_config: str = ""):
    """A mock upstream (model `mock`) and Veil in front of it, with a key for
    `wallet` holding $50 of test credits: (veil, mock, key)."""
    from mock_upstream import MockUpstream

    mock = MockUpstream()
    veil = start_veil(
        f'[[providers]]\nname = "mock"\nkind = "openai"\nbase_url = "{mock.base_url}"\n'
        f'[[models]]\nid = "mock"\nprovider = "mock"\nupstream_model = "mock"\n'
        f'input_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.1\nmax_output_tokens = 256\n'
        + extra_config
    )
    key = veil.new_key(wallet)
    veil.cli("credits", "grant", "--wallet", wallet, "--usd", "50", "--test")
    return veil, mock, key


@pytest.fixture(scope="session")
def veil():
    server = start_veil()
    assert server.key, "a fresh store must print a bootstrap key"
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)
