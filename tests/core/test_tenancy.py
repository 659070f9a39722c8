"""Tenancy: tenant ids are HMACs of keys under the data dir's secret (the same across restarts of
one data dir, unrelated across data dirs, never the plain hash a guess could be checked
against), and configured keys decide who may call the API and who may use ``/_sim``."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from mock_server.core.errors import TogetherError, Unauthorized
from mock_server.core.tenancy import (
    SECRET_FILE,
    Caller,
    Forbidden,
    Tenancy,
    load_secret,
    tenant_of,
)

SECRET = b"k" * 32


def _body(error: TogetherError) -> dict[str, object]:
    body: dict[str, object] = error.body()["error"]
    return body


def test_a_tenant_id_is_a_keyed_hash_not_the_plain_hash_of_the_key() -> None:
    key = "sk-123"
    assert tenant_of(key, SECRET) != hashlib.sha256(key.encode()).hexdigest()[:16]
    assert tenant_of(key, SECRET) != tenant_of(key, b"j" * 32)
    assert tenant_of(key, SECRET) == tenant_of(key, SECRET)
    assert tenant_of(key, SECRET) != tenant_of("sk-124", SECRET)
    assert len(tenant_of(key, SECRET)) == 16


def test_one_data_dir_keeps_one_secret_so_a_key_stays_its_tenant(tmp_path: Path) -> None:
    first = Tenancy.in_data_dir(tmp_path / "data").tenant_of("sk-1")
    again = Tenancy.in_data_dir(tmp_path / "data").tenant_of("sk-1")  # a restart
    elsewhere = Tenancy.in_data_dir(tmp_path / "other").tenant_of("sk-1")
    assert first == again
    assert first != elsewhere


def test_the_secret_file_is_made_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert len(secret) == 32
    assert path.read_bytes() == secret
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path) == secret
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary left behind


def test_a_secret_already_there_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_bytes(SECRET)
    assert Tenancy.in_data_dir(tmp_path).tenant_of("sk-1") == tenant_of("sk-1", SECRET)


def test_a_damaged_secret_stops_the_start_rather_than_renaming_every_tenant(
    tmp_path: Path,
) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"short")
    with pytest.raises(ValueError, match="is not a tenant secret"):
        load_secret(tmp_path)


def test_neither_the_keys_nor_the_secret_show_in_its_repr() -> None:
    shown = repr(Tenancy(SECRET, api_keys=["sk-user"], admin_keys=["sk-admin"]))
    assert "sk-" not in shown
    assert SECRET.decode() not in shown


def test_without_keys_any_key_is_its_own_tenant_and_anyone_is_admin() -> None:
    open_ = Tenancy(SECRET)
    assert not open_.locked
    assert open_.authenticate("Bearer anything") == tenant_of("anything", SECRET)
    assert open_.admin(None) == Caller(None, admin=True)
    assert open_.admin("anything") == Caller(tenant_of("anything", SECRET), admin=True)


def test_with_keys_the_api_takes_only_them_and_the_admin_key() -> None:
    keyed = Tenancy(SECRET, api_keys=["sk-a"], admin_keys=["sk-admin"])
    assert keyed.authenticate("Bearer sk-a") == tenant_of("sk-a", SECRET)
    assert keyed.authenticate("Bearer sk-admin") == tenant_of("sk-admin", SECRET)
    with pytest.raises(Unauthorized) as unknown:
        keyed.authenticate("Bearer sk-b")
    assert _body(unknown.value)["code"] == "invalid_api_key"
    with pytest.raises(Unauthorized, match="Missing API key"):
        keyed.authenticate("")


def test_with_keys_the_controls_want_the_admin_key() -> None:
    keyed = Tenancy(SECRET, api_keys=["sk-a"], admin_keys=["sk-admin"])
    assert keyed.locked
    assert keyed.admin("sk-admin") == Caller(tenant_of("sk-admin", SECRET), admin=True)
    assert keyed.caller("sk-a") == Caller(tenant_of("sk-a", SECRET), admin=False)
    with pytest.raises(Forbidden) as tenant:
        keyed.admin("sk-a")
    assert (tenant.value.status, _body(tenant.value)["type"]) == (403, "permission_denied")
    assert "--admin-key" in str(_body(tenant.value)["message"])
    with pytest.raises(Unauthorized):
        keyed.caller("sk-b")
    with pytest.raises(Unauthorized, match="/_sim wants"):
        keyed.caller(None)


def test_api_keys_without_an_admin_key_leave_the_controls_to_no_one() -> None:
    keyed = Tenancy(SECRET, api_keys=["sk-a"])
    with pytest.raises(Forbidden, match="started without one"):
        keyed.admin("sk-a")


def test_an_admin_key_alone_locks_the_controls_and_leaves_the_api_open() -> None:
    admin_only = Tenancy(SECRET, admin_keys=["sk-admin"])
    assert admin_only.locked
    assert admin_only.authenticate("Bearer anyone") == tenant_of("anyone", SECRET)
    assert admin_only.caller("anyone") == Caller(tenant_of("anyone", SECRET), admin=False)
    assert admin_only.admin("sk-admin").admin
    with pytest.raises(Forbidden):
        admin_only.admin("anyone")
