"""aiocoap (an independent CoAP implementation) against SEAM's LwM2M server.

Usage: python aiocoap_peer.py HOST:PORT PACKAGE_SHA256 PACKAGE_SIZE

Runs scripted registrations and malformed requests, fetches a package block-wise, and prints
one JSON object per check: {"check": name, "ok": bool, "detail": ...}. Exit code 0 when every
check passed.
"""

import asyncio
import hashlib
import json
import sys

import aiocoap
from aiocoap import Code, Message
from aiocoap.optiontypes import OpaqueOption

results = []


def check(name, ok, detail=""):
    results.append({"check": name, "ok": bool(ok), "detail": str(detail)})


async def main(authority, sha, size):
    base = f"coap://{authority}"
    ctx = await aiocoap.Context.create_client_context()

    async def ask(msg):
        return await asyncio.wait_for(ctx.request(msg).response, 30)

    # Register (LwM2M 1.1), update, de-register.
    reg = Message(code=Code.POST, uri=f"{base}/rd?ep=aiocoap-1&lt=120&lwm2m=1.1&b=U",
                  payload=b"</1/0>,</3/0>,</3304/0>", content_format=40)
    res = await ask(reg)
    location = "/".join(res.opt.location_path)
    check("register", res.code == Code.CREATED and location.startswith("rd/"), f"{res.code} {location}")
    res = await ask(Message(code=Code.POST, uri=f"{base}/{location}?lt=300"))
    check("update", res.code == Code.CHANGED, res.code)

    # A registration payload large enough to travel Block1 (aiocoap splits it itself).
    links = ",".join(f"</3303/{i}>" for i in range(200)).encode()
    res = await ask(Message(code=Code.POST, uri=f"{base}/rd?ep=aiocoap-big&lt=120&lwm2m=1.1",
                            payload=links, content_format=40))
    check("register-block1", res.code == Code.CREATED, f"{res.code} ({len(links)} bytes)")

    res = await ask(Message(code=Code.DELETE, uri=f"{base}/{location}"))
    check("deregister", res.code == Code.DELETED, res.code)
    res = await ask(Message(code=Code.DELETE, uri=f"{base}/{location}"))
    check("deregister-twice", res.code == Code.NOT_FOUND, res.code)

    # Refusals.
    res = await ask(Message(code=Code.POST, uri=f"{base}/rd?lt=60", payload=b"</3/0>"))
    check("register-without-ep", res.code == Code.BAD_REQUEST, f"{res.code} {res.payload!r}")
    res = await ask(Message(code=Code.POST, uri=f"{base}/rd?ep=x&lwm2m=1.2", payload=b"</3/0>"))
    check("register-1.2", res.code == Code.PRECONDITION_FAILED, res.code)
    res = await ask(Message(code=Code.POST, uri=f"{base}/rd?ep=x&lt=abc", payload=b"</3/0>"))
    check("register-bad-lifetime", res.code == Code.BAD_REQUEST, res.code)
    res = await ask(Message(code=Code.POST, uri=f"{base}/rd?ep=x", payload=b"</3/0>", content_format=50))
    check("register-json-payload", res.code == Code.UNSUPPORTED_CONTENT_FORMAT, res.code)

    # Malformed options: an unknown critical option (odd number) must be refused with 4.02.
    msg = Message(code=Code.GET, uri=f"{base}/pkg/{sha}")
    msg.opt.add_option(OpaqueOption(2049, b"\x01"))
    res = await ask(msg)
    check("unknown-critical-option", res.code == Code.BAD_OPTION, res.code)
    # An unknown elective option (even number) is ignored.
    msg = Message(code=Code.GET, uri=f"{base}/pkg/{sha}")
    msg.opt.add_option(OpaqueOption(2050, b"\x01"))
    res = await ask(msg)
    check("unknown-elective-option", res.code == Code.CONTENT, res.code)

    # Block2: aiocoap fetches the whole package block by block.
    res = await ask(Message(code=Code.GET, uri=f"{base}/pkg/{sha}"))
    digest = hashlib.sha256(res.payload).hexdigest()
    check("package-block2", res.code == Code.CONTENT and digest == sha and len(res.payload) == size,
          f"{res.code} {len(res.payload)} bytes {digest}")
    res = await ask(Message(code=Code.GET, uri=f"{base}/pkg/{'0' * 64}"))
    check("unknown-package", res.code == Code.NOT_FOUND, res.code)

    await ctx.shutdown()


if __name__ == "__main__":
    authority, sha, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        asyncio.run(main(authority, sha, size))
    except Exception as e:  # a crash is a failed check, reported like the others
        check("no-exception", False, repr(e))
    for r in results:
        print(json.dumps(r))
    sys.exit(0 if results and all(r["ok"] for r in results) else 1)
