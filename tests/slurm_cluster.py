"""A live single-node SLURM for the tests: munged, slurmctld and slurmd on localhost in a tmp dir.

Every daemon runs in the foreground as a child of the test process, with its own config, state,
spool, log files and munge socket under the given directory, so it touches nothing system-wide and
is torn down by PID. Clients (sbatch, squeue, scancel) find it through ``SLURM_CONF``. The settings
are the ones DEVELOPERS.md lists as working in this container.
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo")
NODE_CPUS = 8


def missing_reason() -> str | None:
    """Why a live SLURM cannot start here, or None if it can."""
    if os.geteuid() != 0:
        return "a single-node SLURM needs root (SlurmUser=root, slurmd runs jobs as the submitter)"
    missing = [name for name in DAEMONS + CLIENTS + ("mungekey",)
               if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]
    if missing:
        return (f"SLURM is not installed (missing {', '.join(missing)}); "
                "apt-get install -y slurmctld slurmd slurm-client munge")
    return None


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SLURM_CONF = """\
ClusterName=synthenv
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
KillWait=2
NodeName=localhost CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """``with SlurmCluster(tmp) as slurm: slurm.run("sbatch", ...)``; ``slurm.env`` has SLURM_CONF."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.processes: list[subprocess.Popen] = []
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 30.0) -> "SlurmCluster":
        for folder in ("state", "spool", "munge"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        munge_socket = self.root / "munge" / "munge.socket"
        key = self.root / "munge" / "munge.key"
        subprocess.run([_program("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        key.chmod(0o600)
        self.conf.write_text(SLURM_CONF.format(root=self.root, munge_socket=munge_socket, cpus=NODE_CPUS,
                                               ctld_port=_free_port(), d_port=_free_port()))
        self._spawn([_program("munged"), "--foreground", "--force", f"--socket={munge_socket}",
                     f"--key-file={key}", f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                     f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                     f"--log-file={self.root / 'munge' / 'munged.log'}"])
        self._wait(lambda: munge_socket.exists(), timeout, "munged did not create its socket")
        self._spawn([_program("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._spawn([_program("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(self._node_is_idle, timeout, "the SLURM node did not come up")
        return self

    def _spawn(self, command: list[str]) -> None:
        log = open(self.root / f"{Path(command[0]).name}.out", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                               start_new_session=True))
        log.close()

    def _wait(self, ready, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{message} (exited: {dead}); logs in {self.root}")
            time.sleep(0.1)

    def _node_is_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).stdout.strip()
        return state in ("idle", "mix", "alloc")

    def run(self, *command: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(list(command), env=self.env, capture_output=True, text=True, check=check, timeout=60,
                              cwd=cwd)

    def job_states(self) -> dict[str, str]:
        """``{job id (array tasks as 12_3): state}`` of the jobs SLURM still lists."""
        lines = self.run("squeue", "-h", "-r", "-o", "%i %T").stdout.split("\n")
        return dict(line.split() for line in lines if line.strip())

    def wait_until_empty(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.job_states():
            if time.monotonic() > deadline:
                raise TimeoutError(f"SLURM jobs still queued after {timeout} s: {self.job_states()}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel what is left and end the daemons, newest first, by PID."""
        if all(p.poll() is None for p in self.processes[:2]):
            self.run("scancel", "--full", "--user", "root", check=False)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
