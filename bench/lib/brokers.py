"""brokers.py - start and stop the two brokers bench/compare measures.

Edad and Rabbit each run on free 127.0.0.1 ports with a private temporary
config and data directory, like tests/tools/with-rabbitmq.sh (the RabbitMQ
set-up is the same: own node name, dist and epmd ports, Erlang cookie in a
temporary HOME).  They expose the broker's pid (the beam.smp process for
RabbitMQ) for RSS and CPU readings, kill -9 and restart on the same data
directory for recovery runs.  Nothing here measures; bench/compare does.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

RABBIT_BIN = "/usr/lib/rabbitmq/bin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def amqp_ready(port, timeout=0.5):
    """True when a TCP connection on port gets connection.start back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            data = s.recv(7)
            return len(data) >= 1 and data[0] == 1
    except OSError:
        return False


def wait_ready(port, proc_alive, limit=120.0, step=0.001):
    """Poll until the broker answers the protocol header; seconds or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if amqp_ready(port):
            return time.monotonic() - t0
        if not proc_alive():
            return None
        time.sleep(step)
    return None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    """utime + stime of pid and its threads, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Broker:
    name = "?"

    def __init__(self):
        self.proc = None
        self.work = tempfile.mkdtemp(prefix="edad-bench-%s-" % self.name)
        self.port = free_port()
        self.ready_s = None

    @property
    def uri(self):
        return "amqp://guest:guest@127.0.0.1:%d/%%2f" % self.port

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)


class Edad(Broker):
    name = "edad"

    def __init__(self, binary, extra_conf=""):
        self.binary = binary
        self.extra_conf = extra_conf
        super().__init__()

    def start(self, fresh=True):
        data = os.path.join(self.work, "data")
        if fresh:
            shutil.rmtree(data, ignore_errors=True)
        conf = os.path.join(self.work, "edad.conf")
        with open(conf, "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n" % self.port)
            f.write("data_dir = %s\n" % data)
            f.write("log.console.level = warning\n")
            f.write(self.extra_conf)
        log = open(os.path.join(self.work, "edad.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-c", conf], stdout=log, stderr=log,
                                     preexec_fn=raise_nofile)
        self.ready_s = wait_ready(self.port, self.alive)
        if self.ready_s is None:
            raise RuntimeError("edad did not start; see %s/edad.log" % self.work)
        return self.ready_s

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Rabbit(Broker):
    name = "rabbitmq"

    def __init__(self, nofile=None):
        if not os.access(os.path.join(RABBIT_BIN, "rabbitmq-server"), os.X_OK):
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        super().__init__()
        self.dist = free_port()
        self.epmd = free_port()
        self.node = "edadbench%d@localhost" % os.getpid()
        self.nofile = nofile
        w = self.work
        self.env = dict(os.environ)
        self.env.update({
            "HOME": w, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist),
            "ERL_EPMD_PORT": str(self.epmd), "RABBITMQ_MNESIA_BASE": w + "/mnesia",
            "RABBITMQ_LOG_BASE": w + "/log", "RABBITMQ_CONFIG_FILE": w + "/rabbitmq",
            "RABBITMQ_ENABLED_PLUGINS_FILE": w + "/enabled_plugins",
            "RABBITMQ_PLUGINS_EXPAND_DIR": w + "/plugins-expand",
            "RABBITMQ_PID_FILE": w + "/rabbit.pid",
        })
        os.makedirs(w + "/log", exist_ok=True)
        with open(w + "/enabled_plugins", "w") as f:
            f.write("[].\n")
        with open(w + "/rabbitmq.conf", "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n" % self.port)

    @staticmethod
    def version():
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
                                  capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    def start(self, fresh=True):
        if fresh:
            shutil.rmtree(self.work + "/mnesia", ignore_errors=True)
        os.makedirs(self.work + "/mnesia", exist_ok=True)
        out = open(self.work + "/server.out", "ab")

        def limits():
            os.setsid()
            if self.nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
            else:
                raise_nofile()
        self.proc = subprocess.Popen([RABBIT_BIN + "/rabbitmq-server"], env=self.env, stdout=out,
                                     stderr=out, preexec_fn=limits)
        self.ready_s = wait_ready(self.port, self.alive, step=0.005)
        if self.ready_s is None:
            raise RuntimeError("RabbitMQ did not start; see %s/server.out" % self.work)
        return self.ready_s

    def pid(self):
        """The beam.smp process (the broker itself)."""
        try:
            with open(self.work + "/rabbit.pid") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            pass
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open("/proc/%s/cmdline" % p, "rb") as f:
                        cmd = f.read()
                    if b"beam.smp" in cmd and self.node.encode() in cmd:
                        return int(p)
                except OSError:
                    pass
        return self.proc.pid

    def _reap(self, sig):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.alive():
            subprocess.run([RABBIT_BIN + "/rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self._reap(signal.SIGKILL)
        self._kill_epmd()

    def kill9(self):
        """kill -9 the beam (what a crash looks like), then reap the rest."""
        if self.alive():
            try:
                os.kill(self.pid(), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap(signal.SIGKILL)

    def _kill_epmd(self):
        subprocess.run(["epmd", "-port", str(self.epmd), "-kill"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
