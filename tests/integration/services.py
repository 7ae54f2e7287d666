"""Real PostgreSQL and Redis servers for integration tests, on loopback ports
in temp directories, through tests/services/{postgres,redis}.sh (which run
the server as user postgres when root, and kill it if this process dies).

    with Postgres() as pg:  pg.dsn, pg.stop(), pg.kill9(), pg.start()
    with Redis() as rd:     rd.url, rd.port, rd.stop(), rd.kill9(), rd.start()
"""

import os
import shutil
import subprocess
import tempfile

from harness import Started, free_port

SERVICES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "services"))


class _Server(Started):
    SCRIPT = None
    PREFIX = None

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=self.PREFIX)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.address = None

    def _run(self, *args, timeout=60):
        env = dict(os.environ, PG_OWNER_PID=str(os.getpid()),
                   REDIS_OWNER_PID=str(os.getpid()))
        p = subprocess.run([os.path.join(SERVICES, self.SCRIPT)] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s %s failed (%d): %s" % (self.SCRIPT, " ".join(args),
                                                         p.returncode, p.stderr.decode()))
        return p.stdout.decode().strip()

    def start(self):
        self.address = self._run("start", self.dir, str(self.port))
        return self

    def stop(self):
        self._run("stop", self.dir)

    def kill9(self):
        self._run("kill", self.dir)

    def cleanup(self):
        try:
            self._run("kill", self.dir)
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres(_Server):
    SCRIPT = "postgres.sh"
    PREFIX = "starling-pg-"

    @property
    def dsn(self):
        return self.address


class Redis(_Server):
    SCRIPT = "redis.sh"
    PREFIX = "starling-redis-"

    @property
    def url(self):
        return self.address
