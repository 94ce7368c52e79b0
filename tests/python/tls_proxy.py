"""A TLS-terminating TCP proxy on 127.0.0.1 for the export tests.

Terminates TLS with --cert/--key (and, with --client-ca, demands a client certificate signed by
that CA), offers ALPN h2 and http/1.1, and pipes the plain bytes to 127.0.0.1:--upstream.
Prints "listening <port>" once, then one line per handshake: "accepted alpn=<p> client=<cn>"
or "refused <reason>". Stops on SIGTERM/SIGKILL or when stdin closes is not needed: the test
kills it.
"""

import argparse
import asyncio
import ssl
import sys


def context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    return ctx


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(ctx, upstream, raw_reader, raw_writer):
    loop = asyncio.get_running_loop()
    try:
        await raw_writer.start_tls(ctx)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        say("refused " + type(e).__name__ + ": " + str(e).replace("\n", " "))
        raw_writer.close()
        return
    tls = raw_writer.get_extra_info("ssl_object")
    peer = tls.getpeercert() if tls is not None else None
    client = ""
    if peer:
        for rdn in peer.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    client = value
    say("accepted alpn=%s client=%s" % (tls.selected_alpn_protocol() if tls else None, client))
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError as e:
        say("upstream " + str(e))
        raw_writer.close()
        return
    await asyncio.gather(pipe(raw_reader, up_writer), pipe(up_reader, raw_writer))
    del loop


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca")
    args = parser.parse_args()
    ctx = context(args)
    server = await asyncio.start_server(
        lambda r, w: handle(ctx, args.upstream, r, w), "127.0.0.1", 0
    )
    say("listening %d" % server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
