"""The RabbitMQ user of message-queue producers, with the rights of shared.producer_rights.

    python -m devtools.producer_user                    # on this machine, with rabbitmqctl
    python -m devtools.producer_user --definitions deploy/rabbitmq/definitions.json

The first creates (or updates) the user on the local broker, as `make up` does; the second
writes the definitions file the compose file's RabbitMQ loads at boot (the platform's own user
`guest` and the producer's, each with its password hashed as RabbitMQ does). The password comes
from PRODUCER_PASSWORD (default `producer`, for a developer machine), the name from
PRODUCER_USER (default `producer`).
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.amqp import Topology
from shared.producer_rights import DEFAULT_PRODUCER_USER, Permissions, producer_permissions

DEFAULT_PASSWORD = "producer"
HASHING = "rabbit_password_hashing_sha256"
# The platform's own user in the compose file (AMQP_URL there): every right.
PLATFORM_USER, PLATFORM_PASSWORD = "guest", "guest"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's stored form: base64(salt + sha256(salt + password)), a 4-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def password_matches(stored: str, password: str) -> bool:
    raw = base64.b64decode(stored)
    return password_hash(password, raw[:4]) == stored


def _permission(user: str, rights: Permissions) -> dict[str, str]:
    return {
        "user": user,
        "vhost": "/",
        "configure": rights.configure,
        "write": rights.write,
        "read": rights.read,
    }


def definitions(topology: Topology, user: str, password: str) -> dict[str, Any]:
    everything = Permissions(".*", ".*", ".*")
    return {
        "users": [
            {
                "name": PLATFORM_USER,
                "password_hash": password_hash(PLATFORM_PASSWORD),
                "hashing_algorithm": HASHING,
                "tags": "administrator",
            },
            {
                "name": user,
                "password_hash": password_hash(password),
                "hashing_algorithm": HASHING,
                "tags": "",
            },
        ],
        "vhosts": [{"name": "/"}],
        "permissions": [
            _permission(PLATFORM_USER, everything),
            _permission(user, producer_permissions(topology)),
        ],
    }


def create_with_rabbitmqctl(topology: Topology, user: str, password: str) -> None:
    """Create the user (or set its password if it exists) and its permissions."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise RuntimeError("rabbitmqctl not found: run this where RabbitMQ runs")
    users = subprocess.run(
        [tool, "list_users", "--quiet"], capture_output=True, text=True, check=True
    ).stdout
    exists = any(line.split("\t")[0] == user for line in users.splitlines())
    command = "change_password" if exists else "add_user"
    subprocess.run([tool, command, user, password], capture_output=True, check=True)
    rights = producer_permissions(topology).as_rabbitmqctl(user)
    subprocess.run([tool, *rights], capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default=os.environ.get("PRODUCER_USER", DEFAULT_PRODUCER_USER))
    parser.add_argument("--prefix", default=os.environ.get("AMQP_PREFIX", "backtester"))
    parser.add_argument("--definitions", type=Path, help="write this definitions file instead")
    args = parser.parse_args()
    password = os.environ.get("PRODUCER_PASSWORD", DEFAULT_PASSWORD)
    topology = Topology(args.prefix)
    if args.definitions is not None:
        text = json.dumps(definitions(topology, args.user, password), indent=2) + "\n"
        args.definitions.write_text(text)
        print(f"wrote {args.definitions}")
        return
    try:
        create_with_rabbitmqctl(topology, args.user, password)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"producer user not created: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"RabbitMQ user {args.user!r} may submit jobs and read events (prefix {args.prefix})")


if __name__ == "__main__":
    main()
