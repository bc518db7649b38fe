"""A throwaway sshd on a loopback port for the distributed tests: the current user, host and user keys made in a
temp dir, an ssh_config that knows only that server. Nothing under the real user's ~/.ssh is read or written:
sshd takes its authorized keys from the temp dir, and the client gets -F, its identity and known_hosts from there.
"""
import getpass
import os
import shutil
import socket
import subprocess
import time

from facecat_test import skip


def need_sshd():
    for p in ("/usr/sbin/sshd", shutil.which("ssh"), shutil.which("ssh-keygen"), shutil.which("parallel")):
        if not p or not os.path.exists(p):
            skip("sshd, ssh, ssh-keygen or GNU parallel is missing (scripts/setup installs openssh-server, "
                 "openssh-client and parallel)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """sshd -D on 127.0.0.1; `aliases` are Host names in ssh_config that all reach it. session_env: set in every
    session (sshd's SetEnv), e.g. HOME, so the remote side sees the test's environment, not the real user's."""

    def __init__(self, folder, aliases, session_env):
        self.dir = os.path.join(folder, "ssh")
        os.makedirs(self.dir, mode=0o700)
        d = self.dir
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "facecat-test", "-f",
                            os.path.join(d, name)], check=True, capture_output=True)
        shutil.copyfile(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
        with open(os.path.join(d, "host_key.pub")) as f:
            host_pub = " ".join(f.read().split()[:2])
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write(f"facecat-test-sshd {host_pub}\n")
        self.port = free_port()
        user = getpass.getuser()
        env_line = " ".join(f'"{k}={v}"' for k, v in session_env.items())
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
PermitUserEnvironment no
PrintMotd no
UseDNS no
SetEnv {env_line}
LogLevel ERROR
""")
        self.config = os.path.join(d, "ssh_config")
        with open(self.config, "w") as f:
            f.write(f"""Host {' '.join(aliases)}
  HostName 127.0.0.1
  Port {self.port}
  User {user}
  IdentityFile {d}/user_key
  IdentitiesOnly yes
  IdentityAgent none
  HostKeyAlias facecat-test-sshd
  UserKnownHostsFile {d}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
""")
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege separation directory (Debian's unit makes it)
        self.log = open(os.path.join(d, "sshd.log"), "wb")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"sshd exited at start: {self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"sshd does not listen on {self.port}: {self.log_text()}")
                time.sleep(0.05)

    def ssh_command(self):
        return f"ssh -F {self.config}"

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "sshd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
