"""This host's time-sync configuration: the NTP servers chrony, ntpd or systemd-timesyncd are told to use.

Read once, when settings.build takes its host snapshot (`HostSnapshot`, `Settings.timesync`), so the clock
probe's plan stays pure; the files are read below NETCHECK_HOST_ROOT like every other host file.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_FILES = ("/etc/chrony/chrony.conf", "/etc/chrony.conf", "/etc/ntp.conf", "/etc/systemd/timesyncd.conf")
TIMESYNCD_DROPINS = "/etc/systemd/timesyncd.conf.d"
MAX_CONFIG_BYTES = 1 << 20  # a chrony.conf is a few KiB; a larger (or non-regular) file is not read
MAX_DROPINS = 256  # drop-in files looked at, in name order


def servers_from_config(paths: tuple[str, ...] | None = None, dropins: str | None = None,
                        root: str = "/") -> tuple[tuple[str, ...], str]:
    """NTP servers named in the first chrony/ntpd/timesyncd file that names any, and that file.

    `paths` and `dropins` are as on the host and read below `root` (NETCHECK_HOST_ROOT, e.g. /host in a
    DaemonSet); the file returned is named as on the host, as a message to the operator should name it."""
    from netcheck.net.host import host_path

    files = [Path(p) for p in (CONFIG_FILES if paths is None else paths)]
    with_dropins = Path(TIMESYNCD_DROPINS if dropins is None else dropins)
    if (seen := host_path(root, str(with_dropins))).is_dir():
        files += [with_dropins / name for name in sorted(p.name for p in seen.glob("*.conf"))[:MAX_DROPINS]]
    from netcheck.safeio import read_optional

    for path in files:
        text = read_optional(host_path(root, str(path)), MAX_CONFIG_BYTES, "time-sync configuration")
        if text is None:
            continue
        found: list[str] = []
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            words = line.split()
            if len(words) >= 2 and words[0] in ("server", "pool"):
                port = re.search(r"\bport\s+(\d+)", line)
                found.append(f"{words[1]}:{port.group(1)}" if port else words[1])
            elif m := re.match(r"^NTP\s*=\s*(.*)$", line):
                found += m.group(1).split()
        if found:
            return tuple(dict.fromkeys(found)), str(path)
    return (), ""
