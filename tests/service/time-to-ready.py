#!/usr/bin/env python3
"""time-to-ready.py EDAD [N] - how soon edad serves after exec, empty data dir.

Starts EDAD N times (default 20) on a free 127.0.0.1 port with a new data
dir each time and prints min/median/max of two figures: exec -> READY=1 on
a NOTIFY_SOCKET this script owns, and exec -> the port accepting a TCP
connection (polled every 0.5 ms, without NOTIFY_SOCKET).  Each edad is
stopped with SIGTERM.  Not run by make check: it measures, it asserts nothing.
"""
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ready, accept = [], []
    for i in range(2 * n):
        d = tempfile.mkdtemp(prefix='edad-ttr-')
        try:
            ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ns.bind(d + '/notify.sock')
            ns.settimeout(10)
            ls = socket.socket()
            ls.bind(('127.0.0.1', 0))
            port = ls.getsockname()[1]
            ls.close()
            conf = d + '/edad.conf'
            with open(conf, 'w') as f:
                f.write(f"listeners.tcp.default = 127.0.0.1:{port}\ndata_dir = {d}/data\n")
            env = {k: v for k, v in os.environ.items() if k != 'NOTIFY_SOCKET'}
            if i % 2 == 0:
                env['NOTIFY_SOCKET'] = d + '/notify.sock'
            t0 = time.monotonic()
            p = subprocess.Popen([binary, '-c', conf], env=env, stderr=subprocess.DEVNULL)
            try:
                if i % 2 == 0:
                    while b'READY=1' not in ns.recv(4096):
                        pass
                    ready.append((time.monotonic() - t0) * 1000)
                else:
                    while True:
                        c = socket.socket()
                        try:
                            c.connect(('127.0.0.1', port))
                            break
                        except OSError:
                            time.sleep(0.0005)
                        finally:
                            c.close()
                    accept.append((time.monotonic() - t0) * 1000)
            finally:
                p.terminate()
                p.wait()
                ns.close()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    for name, v in (('exec -> READY=1', ready), ('exec -> port accepts', accept)):
        v.sort()
        print(f"{name}: n={len(v)} min={v[0]:.2f} median={statistics.median(v):.2f} "
              f"max={v[-1]:.2f} ms")

if __name__ == '__main__':
    main()
