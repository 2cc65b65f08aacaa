"""aiocoap over DTLS (its tinydtls transport, DTLSSocket), against SEAM's coaps:// server.

Registers with the right key (expects 2.01), then with a wrong key (expects no answer: the
handshake never completes) and prints one JSON line per step.

    aiocoap_dtls_peer.py HOST:PORT ENDPOINT IDENTITY KEY_HEX
"""

import asyncio
import json
import sys

import aiocoap
from aiocoap.numbers.codes import Code


async def register(server, endpoint, identity, key_hex, timeout):
    context = await aiocoap.Context.create_client_context(transports=["tinydtls"])
    context.client_credentials.load_from_dict(
        {
            f"coaps://{server}/*": {
                "dtls": {
                    "psk": {"hex": key_hex},
                    "client-identity": {"ascii": identity},
                }
            }
        }
    )
    request = aiocoap.Message(
        code=Code.POST,
        uri=f"coaps://{server}/rd?ep={endpoint}&lt=60&lwm2m=1.1&b=U",
        payload=b"</1/0>,</3/0>",
        content_format=40,
    )
    try:
        response = await asyncio.wait_for(context.request(request).response, timeout)
        return str(response.code), response.opt.location_path
    except Exception as error:  # a refused handshake surfaces as one of several errors
        return f"error: {type(error).__name__}", ()
    finally:
        await context.shutdown()


async def main():
    server, endpoint, identity, key_hex = sys.argv[1:5]
    code, location = await register(server, endpoint, identity, key_hex, 20)
    print(json.dumps({"step": "right key", "code": code, "location": list(location)}))
    wrong = "".join("f" if c != "f" else "0" for c in key_hex)
    code, _ = await register(server, endpoint + "-wrong", identity, wrong, 8)
    print(json.dumps({"step": "wrong key", "code": code}))


asyncio.run(main())
