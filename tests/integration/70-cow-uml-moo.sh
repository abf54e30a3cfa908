#!/bin/bash
# Proves `uml-nf cow` handles UML's COW format as the kernel and uml-utilities do: `cow create` writes uml_mkcow's bytes, the guest kernel boots and writes that COW, and `cow merge` (new image, and -d in place) writes uml_moo's bytes with uml_moo's holes, for COWs made by uml-nf and by the kernel and for the v1, v2 and unpacked-v3 headers; bad input fails in one line, non-zero, leaving nothing behind.
# How: a 32 MiB ext4 data image; cow create vs uml_mkcow (cmp); uml-nf in the lab with a rw root (kernel-made COW) and ubd1=the created COW alone, a host router.conf writing files to both; uml_moo vs uml-nf merges cmp'd, st_blocks compared, files read back with debugfs; -d on sparse copies of the backing; old headers built by tests/tools/cow-oldfmt.py; bad inputs for merge, -d and create.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin cow70 umlnf
UMLNF=$(readlink -f "$UMLNF")
for t in uml_moo uml_mkcow debugfs mkfs.ext4; do
	command -v "$t" >/dev/null || PATH=$PATH:/sbin:/usr/sbin
	command -v "$t" >/dev/null || skip_test "$t missing (uml-utilities, e2fsprogs)"
done
D=$LAB_DIR/cow
mkdir -p "$D/tree/dir" || die "mkdir"
OLDFMT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/cow-oldfmt.py

# blocks FILE: 512-byte blocks allocated on disk, once written back (uml_moo
# does not fsync; before writeback a file's extent tree is not counted yet).
blocks() { sync "$1" && stat -c %b "$1"; }
sizes() { echo "    $(basename "$1"): $(stat -c %s "$1") bytes apparent, $(($(blocks "$1") * 512)) on disk"; }
# datamap FILE: its data segments (SEEK_DATA/SEEK_HOLE): "COUNT start-end ..."
datamap() {
	python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end, off, out = os.fstat(fd).st_size, 0, []
while off < end:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    off = os.lseek(fd, d, os.SEEK_HOLE)
    out.append("%d-%d" % (d, off))
print(len(out), " ".join(out))
EOF
}
# same A B WHAT: byte-identical, with the same holes and the same blocks on disk.
same() {
	local ma mb
	cmp "$1" "$2" || die "$3: $(basename "$1") and $(basename "$2") differ"
	ma=$(datamap "$1") && mb=$(datamap "$2") || die "datamap"
	[ "$ma" = "$mb" ] || die "$3: identical bytes, but the holes differ"
	[ "$(blocks "$1")" = "$(blocks "$2")" ] ||
		die "$3: identical bytes and holes, but $(blocks "$1") vs $(blocks "$2") blocks on disk"
	echo "    $3: cmp equal, same ${ma%% *} data segments, $(blocks "$1") blocks each"
}

step "a 32 MiB ext4 data image and a COW over it: cow create vs uml_mkcow"
echo "stays" >"$D/tree/keep.txt"
echo "goes" >"$D/tree/remove-me"
echo "old" >"$D/tree/dir/file"
mkfs.ext4 -q -F -d "$D/tree" -L cowdata "$D/data.img" 32M || die "mkfs.ext4"
touch -d '2024-05-01 12:00:00' "$D/data.img" # a fixed mtime, well in the past
"$UMLNF" cow create -b "$D/data.img" "$D/data.cow" || die "cow create -b"
"$UMLNF" cow create "$D/c2.cow" "$D/data.img" || die "cow create COW BACKING"
uml_mkcow "$D/ref.cow" "$D/data.img" || die "uml_mkcow"
same "$D/data.cow" "$D/ref.cow" "cow create -b vs uml_mkcow"
same "$D/c2.cow" "$D/ref.cow" "cow create COW BACKING vs uml_mkcow"
sizes "$D/data.cow"
"$UMLNF" cow create -b "$D/data.img" "$D/data.cow" 2>"$D/err" && die "cow create over an existing COW succeeded"
grep -q "exists (-f replaces it)" "$D/err" || die "no 'exists' error: $(cat "$D/err")"
"$UMLNF" cow create -f -b "$D/data.img" "$D/c2.cow" || die "cow create -f"
"$UMLNF" cow create -b "$D/nope.img" "$D/n.cow" 2>"$D/err" && die "cow create over a missing backing succeeded"
[ ! -e "$D/n.cow" ] && [ -z "$(ls -A "$D" | grep '^\.')" ] || die "cow create left a file behind"
echo "    refused: $(cat "$D/err")"

step "boot uml-nf: root rw over a COW the kernel makes, ubd1=data.cow (backing from its header)"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
cat >>"$LAB_DIR/conf/router.conf" <<'EOF'
# test 70: write to both disks, then say so
mkdir -p /mnt/data
if mount -t ext4 /dev/ubdb /mnt/data; then
	echo cowtest-data >/mnt/data/hello.txt
	dd if=/dev/urandom of=/mnt/data/blob bs=4096 count=64 2>/dev/null
	rm -f /mnt/data/remove-me
	echo new >/mnt/data/dir/file
	mkdir -p /mnt/data/newdir && echo y >/mnt/data/newdir/y
	sync
	umount /mnt/data && echo "cowtest: data written"
fi
echo cowtest-root >/root/cowtest.txt && sync && echo "cowtest: root written"
EOF
lab_start_umlnf "$UMLNF" "$IMAGE" rw "ubd1=$D/data.cow" || die "start"
lab_wait_ready 90 || die "not ready"
grep -q 'cowtest: data written' "$LAB_DIR/appliance.log" || die "the guest did not write the data disk"
grep -q 'cowtest: root written' "$LAB_DIR/appliance.log" || die "the guest did not write its root"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping through the appliance"
lab_stop_clean 30 || die "unclean stop"
ROOT_COW=$LAB_DIR/root.cow
sizes "$D/data.cow"
sizes "$ROOT_COW"

step "cow info: header and bitmap coverage"
"$UMLNF" cow info "$D/data.cow" | sed 's/^/    /'
json=$("$UMLNF" cow info --json "$D/data.cow") || die "cow info --json"
written=$(python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["sectors_written"])' <<<"$json") ||
	die "cow info --json is not JSON: $json"
# The bitmap's set bits, counted here independently.
bits=$(python3 - "$D/data.cow" <<'EOF'
import sys
with open(sys.argv[1], "rb") as f:
    f.seek(8192)
    print(sum(bin(b).count("1") for b in f.read(32 << 20 >> 12)))
EOF
)
echo "    sectors written: $written (bitmap bits set: $bits)"
[ "$written" -gt 0 ] && [ "$written" = "$bits" ] || die "sectors_written $written, bitmap has $bits"
python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["version"]==3 and j["backing_state"]=="ok" and j["data_offset"]==16384 and j["sector_size"]==512 and j["alignment"]==4096, j' <<<"$json" ||
	die "cow info fields: $json"

step "merge into a new image: uml_moo vs uml-nf (data COW, root COW)"
uml_moo "$D/data.cow" "$D/m-moo.img" || die "uml_moo data.cow"
"$UMLNF" cow merge "$D/data.cow" "$D/m-nf.img" || die "cow merge data.cow"
same "$D/m-moo.img" "$D/m-nf.img" "data COW merged"
sizes "$D/data.img"
sizes "$D/m-nf.img"
[ "$(debugfs -R 'cat /hello.txt' "$D/m-nf.img" 2>/dev/null)" = cowtest-data ] || die "hello.txt not in the merged image"
[ "$(debugfs -R 'cat /dir/file' "$D/m-nf.img" 2>/dev/null)" = new ] || die "dir/file not rewritten"
[ "$(debugfs -R 'cat /keep.txt' "$D/m-nf.img" 2>/dev/null)" = stays ] || die "keep.txt lost"
debugfs -R 'stat /remove-me' "$D/m-nf.img" 2>&1 | grep -q 'File not found' || die "remove-me still there"
[ "$(debugfs -R 'cat /blob' "$D/m-nf.img" 2>/dev/null | wc -c)" = 262144 ] || die "blob is not 256 KiB"
[ "$(debugfs -R 'cat /keep.txt' "$D/data.img" 2>/dev/null)" = stays ] && \
	debugfs -R 'stat /hello.txt' "$D/data.img" 2>&1 | grep -q 'File not found' || die "the backing file changed"
e2fsck -fn "$D/m-nf.img" >/dev/null 2>&1 || die "e2fsck finds errors in the merged image"
echo "    merged image: files as the guest left them, e2fsck clean; backing untouched"
uml_moo "$ROOT_COW" "$D/r-moo.img" || die "uml_moo root.cow"
"$UMLNF" cow merge "$ROOT_COW" "$D/r-nf.img" || die "cow merge root.cow"
same "$D/r-moo.img" "$D/r-nf.img" "root COW (made by the kernel) merged"
[ "$(debugfs -R 'cat /root/cowtest.txt' "$D/r-nf.img" 2>/dev/null)" = cowtest-root ] || die "root file not merged"
sizes "$IMAGE"
sizes "$D/r-nf.img"

step "merge -d (in place) on sparse copies of the backing file: uml_moo vs uml-nf"
cp --sparse=always -p "$D/data.img" "$D/d-moo.img" && cp --sparse=always -p "$D/data.img" "$D/d-nf.img" || die "cp"
uml_moo -d -b "$D/d-moo.img" "$D/data.cow" || die "uml_moo -d"
"$UMLNF" cow merge -d -b "$D/d-nf.img" "$D/data.cow" 2>"$D/err" || { cat "$D/err"; die "cow merge -d"; }
same "$D/d-moo.img" "$D/d-nf.img" "merged in place"
cmp "$D/d-nf.img" "$D/m-nf.img" || die "merge -d and merge into a new image differ"
sizes "$D/d-nf.img"
grep -q "out of date now" "$D/err" || die "merge -d does not say the COW is out of date: $(cat "$D/err")"

step "older headers (v1, v2, unpacked v3): uml_moo vs uml-nf, and the same image as from v3"
for v in v1 v2 v3u; do
	python3 "$OLDFMT" "$D/data.cow" "$D/old-$v.cow" "$v" || die "cow-oldfmt $v"
	"$UMLNF" cow info --json "$D/old-$v.cow" >"$D/info-$v.json" || die "cow info $v"
	echo "    $v: $(python3 -c 'import json,sys; j=json.load(sys.stdin); print("version", j["version"], j["layout"], "data at", j["data_offset"], "written", j["sectors_written"])' <"$D/info-$v.json")"
	"$UMLNF" cow merge "$D/old-$v.cow" "$D/m-$v-nf.img" 2>/dev/null || die "cow merge $v"
	cmp "$D/m-$v-nf.img" "$D/m-nf.img" || die "$v merge differs from the v3 merge"
	if uml_moo "$D/old-$v.cow" "$D/m-$v-moo.img" >"$D/moo-$v.log" 2>&1; then
		same "$D/m-$v-moo.img" "$D/m-$v-nf.img" "$v merged"
	else
		# uml_moo's own limits are not ours to prove.
		skip_check "uml_moo cannot merge a $v COW: $(head -n1 "$D/moo-$v.log")"
	fi
done

step "bad input: one line, non-zero, nothing left behind"
bad() { # WHAT WANT_IN_MESSAGE ARGS...
	local what=$1 want=$2 rc n
	shift 2
	"$UMLNF" cow merge "$@" >"$D/out" 2>"$D/err"
	rc=$?
	n=$(wc -l <"$D/err")
	[ "$rc" -ne 0 ] || die "$what: exit 0"
	[ "$n" -eq 1 ] || { cat "$D/err"; die "$what: $n lines on stderr, want 1"; }
	grep -q -- "$want" "$D/err" || die "$what: '$(cat "$D/err")' lacks '$want'"
	[ ! -e "$D/out.img" ] || die "$what: left out.img"
	[ -z "$(ls -A "$D" | grep '^\.')" ] || die "$what: left a temporary file: $(ls -A "$D" | grep '^\.')"
	echo "    $what -> $rc: $(cat "$D/err")"
}
head -c 100 "$D/ref.cow" >"$D/trunc-hdr.cow"
cp --sparse=always "$D/ref.cow" "$D/trunc-bm.cow" && truncate -s 9000 "$D/trunc-bm.cow"
cp --sparse=always "$D/data.cow" "$D/trunc-data.cow" && truncate -s 1048576 "$D/trunc-data.cow"
cp --sparse=always -p "$D/data.img" "$D/touched.img" && touch -d '2024-05-02 12:00:00' "$D/touched.img"
truncate -s 16M "$D/short.img" && touch -d '2024-05-01 12:00:00' "$D/short.img"
bad "not a COW" "not a COW file" "$D/data.img" "$D/out.img"
bad "truncated header" "truncated COW header" "$D/trunc-hdr.cow" "$D/out.img"
bad "truncated bitmap" "truncated COW file" "$D/trunc-bm.cow" "$D/out.img"
bad "truncated data" "truncated COW file" "$D/trunc-data.cow" "$D/out.img"
bad "backing missing" "No such file" -b "$D/gone.img" "$D/data.cow" "$D/out.img"
bad "backing size mismatch" "size 16777216 bytes, the COW header says 33554432" -b "$D/short.img" "$D/data.cow" "$D/out.img"
bad "backing mtime changed" "mtime .* the COW header says" -b "$D/touched.img" "$D/data.cow" "$D/out.img"
bad "output is the backing file" "is the backing file itself" "$D/data.cow" "$D/data.img"
bad "no such COW" "No such file" "$D/none.cow" "$D/out.img"
sum=$(md5sum <"$D/touched.img")
bad "-d over a changed backing" "mtime" -d -b "$D/touched.img" "$D/data.cow"
[ "$(md5sum <"$D/touched.img")" = "$sum" ] || die "merge -d changed a backing file it refused"
"$UMLNF" cow merge "$D/data.cow" 2>"$D/err"
[ $? -eq 2 ] || die "cow merge without NEW_IMAGE: want usage status 2"
# uml_moo agrees that these are errors.
uml_moo "$D/trunc-hdr.cow" "$D/moo-bad.img" >/dev/null 2>&1 && die "uml_moo took a truncated header (test premise)"
uml_moo -b "$D/touched.img" "$D/data.cow" "$D/moo-bad2.img" >/dev/null 2>&1 && die "uml_moo took a changed backing (test premise)"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "cow create = uml_mkcow; merges = uml_moo (new image, -d, v1/v2/v3u; same holes); bad input refused"
