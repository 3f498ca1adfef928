#!/usr/bin/env bash
# A bounded load test of `digits serve`: latency and requests/s of POST /api/predict at 1, 8 and 64 concurrent
# clients (wrk, 10 s each), for a JSON 28x28 body and for a PNG drawing, and the server's resident memory before
# after each run (a run sends well over 10,000 requests; the JSON runs come again last, to show whether memory
# keeps growing).
#
#     scripts/serve-load.sh MODEL.safetensors [DIGITS_BINARY]
#
# Needs wrk (Debian: apt-get install wrk) and python3 (to turn test image 0 into the two bodies).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: scripts/serve-load.sh MODEL.safetensors [DIGITS_BINARY]}
DIGITS=${2:-target/release/digits}
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

python3 - "$WORK" <<'PY'
import gzip, json, struct, sys, zlib, pathlib
work = pathlib.Path(sys.argv[1])
raw = gzip.decompress(pathlib.Path("data/mnist/t10k-images-idx3-ubyte.gz").read_bytes())
pixels = raw[16:16 + 784]
(work / "body.json").write_text(json.dumps({"pixels": [list(pixels[r * 28:(r + 1) * 28]) for r in range(28)]}))
# The same digit as a 280x280 drawing, dark ink on white, as a canvas would send it.
rows = b"".join(b"\0" + bytes(255 - pixels[(y // 10) * 28 + x // 10] for x in range(280)) for y in range(280))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 280, 280, 8, 0, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
(work / "body.png").write_bytes(png)
for kind, name, content_type in (("json", "body.json", "application/json"), ("png", "body.png", "image/png")):
    body = (work / name).read_bytes()
    escaped = "".join(f"\\{b}" for b in body)
    (work / f"{kind}.lua").write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\nwrk.body = "{escaped}"\n')
PY

"$DIGITS" serve --model "$MODEL" --port 0 > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do grep -q http:// "$WORK/serve.log" && break; sleep 0.1; done
URL=$(grep -o 'http://[^ ]*' "$WORK/serve.log") || { cat "$WORK/serve.log"; exit 1; }
rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$SERVER/status"; }
curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" "${URL}api/predict" > /dev/null
echo "server: $(head -1 "$WORK/serve.log")"
echo "memory after one request: $(rss)"
total=0
for kind in json png json; do
    for clients in 1 8 64; do
        out=$(wrk -t "$(( clients < 4 ? clients : 4 ))" -c "$clients" -d 10s --latency -s "$WORK/$kind.lua" "${URL}api/predict")
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        total=$((total + requests))
        echo "$kind body, $clients clients: $(echo "$out" | awk '/Requests\/sec/ {print $2}') requests/s," \
            "median $(echo "$out" | awk '$1 == "50%" {print $2}'), p99 $(echo "$out" | awk '$1 == "99%" {print $2}')," \
            "$(echo "$out" | awk '/Non-2xx/ {print $4 " not 2xx of "}')${requests} requests, then $(rss)"
    done
done
echo "memory after $total requests: $(rss)"
