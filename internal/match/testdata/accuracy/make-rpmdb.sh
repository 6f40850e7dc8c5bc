#!/usr/bin/env bash
# Builds targets/rpm-alma9: an AlmaLinux 9 os-release and an rpm database
# (var/lib/rpm/rpmdb.sqlite) holding older el9 package versions, made with
# Debian's rpm/rpmbuild from empty spec files (apt-get install rpm). Run
# once; the result is committed.
set -euo pipefail
cd "$(dirname "$0")"
root=targets/rpm-alma9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$root"
mkdir -p "$root/etc" "$root/var/lib/rpm"
cat > "$root/etc/os-release" <<'OS'
NAME="AlmaLinux"
VERSION="9.0 (Emerald Puma)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.0"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.0 (Emerald Puma)"
OS
# name epoch version release
while read -r name epoch version release; do
  [ -z "$name" ] && continue
  spec="$work/$name.spec"
  {
    echo "Name: $name"
    [ "$epoch" != "0" ] && echo "Epoch: $epoch"
    echo "Version: $version"
    echo "Release: $release"
    echo "Summary: accuracy fixture"
    echo "License: MIT"
    echo "%description"
    echo "accuracy fixture"
    echo "%files"
  } > "$spec"
  rpmbuild -bb --quiet --target x86_64 --define "_topdir $work/top" --define "_build_id_links none" "$spec" >/dev/null 2>&1
done <<'PKGS'
openssl-libs 1 3.0.1 41.el9_0
openssl 1 3.0.1 41.el9_0
curl 0 7.76.1 14.el9
libcurl 0 7.76.1 14.el9
glibc 0 2.34 28.el9_0
sudo 0 1.9.5p2 7.el9
bind-libs 32 9.16.23 1.el9
kernel-core 0 5.14.0 70.13.1.el9_0
expat 0 2.2.10 12.el9_0.2
zlib 0 1.2.11 31.el9
libxml2 0 2.9.13 1.el9
python3 0 3.9.10 2.el9
vim-minimal 2 8.2.2637 16.el9_0.3
systemd 0 250 6.el9_0
git 0 2.31.1 2.el9.2
tar 2 1.34 3.el9
PKGS
rpm --root "$PWD/$root" --dbpath /var/lib/rpm --initdb
rpm --root "$PWD/$root" --dbpath /var/lib/rpm -i --justdb --nodeps --noscripts --ignorearch "$work"/top/RPMS/x86_64/*.rpm
rpm --root "$PWD/$root" --dbpath /var/lib/rpm -qa --qf '%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE}\n' | sort
rm -f "$root"/var/lib/rpm/.rpm.lock "$root"/var/lib/rpm/rpmdb.sqlite-shm "$root"/var/lib/rpm/rpmdb.sqlite-wal
ls -la "$root/var/lib/rpm"
