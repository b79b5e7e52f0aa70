"""A TCP health-check backend for the benchmarks: accepts connections on
127.0.0.1:PORT (and closes them at once) until FLAG exists, then closes its
listener, so every probe after that is refused.

Usage: python3 bench/tcp_backend.py PORT FLAG
"""

import os
import socket
import sys
import time

port, flag = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(4096)
s.settimeout(0.2)
while not os.path.exists(flag):
    try:
        c, _ = s.accept()
        c.close()
    except socket.timeout:
        pass
s.close()
time.sleep(86400)
