#!/usr/bin/env python3
"""Sends every frame of a length-prefixed file (4-byte big-endian length, then the bytes; as
fuzz_mutator.py --out-frames writes it) as one single-part ZeroMQ message on a PUSH socket that
connects to ENDPOINT (tcp://HOST:PORT).

With pyzmq installed it is used (unless --raw); otherwise a minimal ZMTP 3.0 client speaks the
wire protocol itself (rfc.zeromq.org/spec/23): NULL mechanism, the 64-byte greeting, a READY command
with Socket-Type PUSH, then each message as one frame (short form up to 255 bytes, long form with
an 8-byte length above). TCP flow control gives PULL's back-pressure: a send blocks while the
receiver is behind. At the end the raw client half-closes the connection and waits until the
peer closes it (libzmq does so once it has read everything up to the end of the stream).

Prints one line: "sent N frames, B bytes in S s: R frames/s (zmtp|pyzmq); all taken after T s:
R2 frames/s" - S is the time to write the frames to the socket, T adds the wait until the peer has
read them all (raw client: until it closed the half-closed connection; pyzmq: until close()
returned, which with LINGER only says the messages left this process).
Usage: fuzz_send.py --connect tcp://127.0.0.1:PORT --frames FILE [--raw] [--rate N] [--limit N]
Exit 0 when every frame was written and taken, 1 on an error, 2 if the peer did not close within
--drain-timeout. Stdlib only (pyzmq optional).
"""
import argparse
import socket
import struct
import sys
import time

GREETING_LEN = 64
FLAG_MORE, FLAG_LONG, FLAG_COMMAND = 0x01, 0x02, 0x04


def read_frames(path):
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            if len(head) != 4:
                raise ValueError("%s: truncated length prefix" % path)
            (n,) = struct.unpack(">I", head)
            body = f.read(n)
            if len(body) != n:
                raise ValueError("%s: truncated frame" % path)
            yield body


def parse_tcp(endpoint):
    if not endpoint.startswith("tcp://"):
        raise ValueError("only tcp:// endpoints are supported by the raw client: %r" % endpoint)
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return host.strip("[]"), int(port)


def encode_frame(body, flags=0):
    n = len(body)
    if n > 255:
        return struct.pack(">BQ", flags | FLAG_LONG, n) + body
    return struct.pack(">BB", flags, n) + body


class ZmtpPush:
    """A ZMTP 3.0 PUSH peer with the NULL mechanism, over one TCP connection."""

    def __init__(self, endpoint, timeout=10.0):
        self.sock = socket.create_connection(parse_tcp(endpoint), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = b""
        greeting = bytearray(GREETING_LEN)
        greeting[0] = 0xFF
        greeting[9] = 0x7F
        greeting[10], greeting[11] = 3, 0
        greeting[12:16] = b"NULL"  # as-server (byte 32) 0, filler zero
        self.sock.sendall(bytes(greeting))
        peer = self._read(GREETING_LEN)
        if peer[0] != 0xFF or peer[9] != 0x7F:
            raise ConnectionError("peer sent no ZMTP signature: %r" % peer[:10])
        if peer[10] < 3:
            raise ConnectionError("peer speaks ZMTP %d.%d, 3.x needed" % (peer[10], peer[11]))
        mech = peer[12:32].rstrip(b"\0")
        if mech != b"NULL":
            raise ConnectionError("peer wants mechanism %r, only NULL is supported" % mech)
        self.peer_version = (peer[10], peer[11])
        ready = b"\x05READY" + self._property(b"Socket-Type", b"PUSH")
        self.sock.sendall(encode_frame(ready, FLAG_COMMAND))
        flags, body = self._read_frame()
        if not flags & FLAG_COMMAND:
            raise ConnectionError("peer sent a message before READY")
        name = body[1:1 + body[0]]
        if name == b"ERROR":
            raise ConnectionError("peer refused: %r" % body[1 + body[0]:])
        if name != b"READY":
            raise ConnectionError("expected READY, got %r" % name)
        props = self._parse_properties(body[1 + body[0]:])
        st = props.get(b"socket-type")
        if st not in (b"PULL",):
            raise ConnectionError("peer socket type %r cannot take PUSH messages" % st)
        self.peer_socket_type = st.decode()
        self.sock.settimeout(None)  # sends block while the receiver pushes back

    @staticmethod
    def _property(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value

    @staticmethod
    def _parse_properties(b):
        props, i = {}, 0
        while i < len(b):
            n = b[i]
            name = b[i + 1:i + 1 + n]
            i += 1 + n
            (vn,) = struct.unpack(">I", b[i:i + 4])
            props[name.lower()] = b[i + 4:i + 4 + vn]
            i += 4 + vn
        return props

    def _read(self, n):
        while len(self.rbuf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the connection during the handshake")
            self.rbuf += chunk
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def _read_frame(self):
        flags = self._read(1)[0]
        if flags & FLAG_LONG:
            (n,) = struct.unpack(">Q", self._read(8))
        else:
            n = self._read(1)[0]
        return flags, self._read(n)

    def sendall(self, data):
        self.sock.sendall(data)

    def finish(self, timeout):
        """Half-closes, then waits (at most `timeout` s) for the peer to close: True if it did."""
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass  # a PING or similar: nothing to answer once we are done
            return True
        except (socket.timeout, OSError):
            return False
        finally:
            self.sock.close()


def send_raw(endpoint, frames, rate, limit, drain_timeout):
    z = ZmtpPush(endpoint)
    batch, n, nbytes = bytearray(), 0, 0
    start = time.monotonic()
    for body in frames:
        if limit is not None and n >= limit:
            break
        batch += encode_frame(body)
        n += 1
        nbytes += len(body)
        if rate:
            due = start + n / rate
            if len(batch) >= 65536 or due > time.monotonic():
                z.sendall(batch)
                batch.clear()
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        elif len(batch) >= 262144:
            z.sendall(batch)
            batch.clear()
    if batch:
        z.sendall(batch)
    sent_s = time.monotonic() - start
    closed = z.finish(drain_timeout)
    return n, nbytes, sent_s, time.monotonic() - start if closed else None


def send_pyzmq(endpoint, frames, rate, limit, drain_timeout):
    import zmq  # noqa: F401 (optional)
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, int(drain_timeout * 1000))
    s.connect(endpoint)
    n = nbytes = 0
    start = time.monotonic()
    for body in frames:
        if limit is not None and n >= limit:
            break
        s.send(body)
        n += 1
        nbytes += len(body)
        if rate:
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    sent_s = time.monotonic() - start
    s.close()  # blocks up to LINGER while queued messages go out
    ctx.term()
    return n, nbytes, sent_s, time.monotonic() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connect", required=True, help="tcp://HOST:PORT of the engine's PULL socket")
    ap.add_argument("--frames", required=True, help="length-prefixed frames file")
    ap.add_argument("--raw", action="store_true", help="use the built-in ZMTP client even with pyzmq")
    ap.add_argument("--rate", type=float, default=0, help="frames per second (0: as fast as possible)")
    ap.add_argument("--limit", type=int, default=None, help="send at most this many frames")
    ap.add_argument("--drain-timeout", type=float, default=30.0,
                    help="seconds to wait at the end for the peer to take everything")
    a = ap.parse_args(argv)
    use_pyzmq = False
    if not a.raw:
        try:
            import zmq  # noqa: F401
            use_pyzmq = True
        except ImportError:
            pass
    sender = send_pyzmq if use_pyzmq else send_raw
    try:
        n, nbytes, secs, done_s = sender(a.connect, read_frames(a.frames), a.rate, a.limit, a.drain_timeout)
    except (OSError, ConnectionError, ValueError) as e:
        print("fuzz_send: %s" % e, file=sys.stderr)
        return 1
    how = "pyzmq" if use_pyzmq else "zmtp"
    rate = "%.0f frames/s" % (n / secs) if secs > 0 else "-"
    if done_s is None:
        print("sent %d frames, %d bytes in %.3f s: %s (%s); the peer did not close within %.0f s"
              % (n, nbytes, secs, rate, how, a.drain_timeout))
        return 2
    print("sent %d frames, %d bytes in %.3f s: %s (%s); all taken after %.3f s: %.0f frames/s"
          % (n, nbytes, secs, rate, how, done_s, n / done_s if done_s > 0 else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
