"""The engine program gradfuzz starts for :func:`gradfuzz.check`: it relays the exec protocol
between its standard streams and the checking process, which answers with the caller's
backward function (so closures, lambdas and notebook functions work, and run in the
caller's process). Run as ``python -m gradfuzz._relay SOCKET TOKEN``."""
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python -m gradfuzz._relay SOCKET TOKEN", file=sys.stderr)
        return 2
    path, token = sys.argv[1:]
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError as error:
        print(f"gradfuzz relay: cannot reach the checking process at {path}: {error}", file=sys.stderr)
        return 2
    channel = connection.makefile("rwb")
    channel.write(token.encode() + b"\n")
    channel.flush()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        channel.write(line if line.endswith(b"\n") else line + b"\n")
        channel.flush()
        reply = channel.readline()
        if not reply:
            print("gradfuzz relay: the checking process went away", file=sys.stderr)
            return 1
        out.write(reply)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
