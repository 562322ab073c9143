#!/usr/bin/env python3
"""Catalogue scale benchmark: a directory of N cameras spread over the real
villages of Guangxi, registered through the bulk API of a running gateway.

Measures: bulk import time, GET /api/v1/areas/45 (whole-province counts) and a
village camera listing, p50/p99/max over R requests each (one keep-alive
connection, requests one after another), and the gateway's RSS.

Usage: scripts/bench-catalog.py [--cameras 100000] [--requests 1000] [--scrapes 20]
(also times GET /metrics, plain and gzip, with the catalogue loaded)
Starts target/release/xlgw itself (build it first: cargo build --release -p xlgw).
"""
import argparse, csv, http.client, io, json, os, random, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--scrapes", type=int, default=20, help="GET /metrics this many times (plain and gzip)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/xlgw"))
    a = ap.parse_args()

    villages = []
    with open(os.path.join(ROOT, "assets/divisions-45-guangxi.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if len(row["code"]) == 12:
                villages.append(row["code"])
    rnd = random.Random(45)

    tmp = tempfile.mkdtemp(prefix="xlgw-scale-")
    cfg = os.path.join(tmp, "xlgw.toml")
    http_port, rtsp_port = free_port(), free_port()
    with open(cfg, "w") as f:
        f.write(f'[server]\nrtsp_listen = "127.0.0.1:{rtsp_port}"\nhttp_listen = "127.0.0.1:{http_port}"\n'
                f'data_dir = "{tmp}/data"\nudp = false\n')
    proc = subprocess.Popen([a.binary, "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if "RTSP on" in line:
                break
        rss_empty = rss_kib(proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)

        # Bulk import: on-demand cameras (nothing is pulled until watched).
        t0 = time.monotonic()
        serial = 0
        for start in range(0, a.cameras, a.batch):
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["id", "name", "area", "url", "username", "password", "transport", "mode", "tags", "latitude", "longitude"])
            for i in range(start, min(a.cameras, start + a.batch)):
                v = villages[rnd.randrange(len(villages))]
                serial += 1
                # county (6) + unit and industry "0000" + type 132 + network 0 + serial (6)
                cid = f"{v[:6]}00001320{serial:06d}"
                w.writerow([cid, f"村口 {i}", v, f"rtsp://192.0.2.{i % 250 + 1}:554/ch{i}", "admin", "pw", "tcp", "on-demand", "", "", ""])
            body = buf.getvalue().encode()
            conn.request("POST", "/api/v1/cameras:bulk", body=body, headers={"Content-Type": "text/csv"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                print("bulk failed", r.status, data[:500], file=sys.stderr)
                sys.exit(1)
        import_s = time.monotonic() - t0
        time.sleep(2)
        rss_full = rss_kib(proc.pid)

        def timed(path, n):
            lat = []
            for _ in range(n):
                t = time.perf_counter()
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                lat.append((time.perf_counter() - t) * 1000)
                assert r.status == 200, (path, r.status)
            return lat

        province = timed("/api/v1/areas/45", a.requests)
        # The village with the most cameras.
        conn.request("GET", "/api/v1/cameras?limit=1")
        r = conn.getresponse(); r.read()
        village = villages[0]
        counts = {}
        rnd2 = random.Random(45)
        for _ in range(a.cameras):
            v = villages[rnd2.randrange(len(villages))]
            counts[v] = counts.get(v, 0) + 1
        village = max(counts, key=counts.get)
        listing = timed(f"/api/v1/cameras?area={village}&limit=100", a.requests)
        county = timed(f"/api/v1/areas/{village[:6]}", a.requests)

        out = {
            "cameras": a.cameras,
            "bulk_import_seconds": round(import_s, 2),
            "bulk_import_cameras_per_second": round(a.cameras / import_s),
            "areas_45_ms": {"p50": round(pct(province, 50), 2), "p99": round(pct(province, 99), 2), "max": round(max(province), 2)},
            "area_county_ms": {"p50": round(pct(county, 50), 2), "p99": round(pct(county, 99), 2), "max": round(max(county), 2)},
            "village_listing_ms": {"village": village, "cameras": counts[village], "p50": round(pct(listing, 50), 2), "p99": round(pct(listing, 99), 2), "max": round(max(listing), 2)},
            "rss_empty_mib": round(rss_empty / 1024, 1),
            "rss_with_catalogue_mib": round(rss_full / 1024, 1),
            "rss_per_camera_kib": round((rss_full - rss_empty) / a.cameras, 2),
        }
        # /metrics of the live gateway with this catalogue: the whole
        # exposition, as Prometheus fetches it (gzip) and plain.
        for enc in ("identity", "gzip"):
            lat, size = [], 0
            for _ in range(a.scrapes):
                t = time.perf_counter()
                conn.request("GET", "/metrics", headers={"Accept-Encoding": enc})
                r = conn.getresponse()
                data = r.read()
                lat.append((time.perf_counter() - t) * 1000)
                assert r.status == 200, ("/metrics", r.status)
                size = len(data)
            out[f"metrics_{enc}_ms"] = {"p50": round(pct(lat, 50), 1), "max": round(max(lat), 1)}
            out[f"metrics_{enc}_bytes"] = size
        # Restart on the same data dir: the catalogue loaded from the store,
        # without the import's transient garbage in the heap.
        proc.terminate()
        proc.wait(30)
        t0 = time.monotonic()
        proc = subprocess.Popen([a.binary, "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in proc.stdout:
            if "RTSP on" in line:
                break
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)
        conn.request("GET", "/api/v1/areas/45")
        r = conn.getresponse()
        body = json.loads(r.read())
        start_s = time.monotonic() - t0
        time.sleep(2)
        rss_restart = rss_kib(proc.pid)
        out["restart_seconds"] = round(start_s, 2)
        out["restart_total_cameras"] = body["cameras"]["total"]
        out["rss_after_restart_mib"] = round(rss_restart / 1024, 1)
        out["rss_after_restart_per_camera_kib"] = round((rss_restart - rss_empty) / a.cameras, 2)
        print(json.dumps(out, indent=2, ensure_ascii=False))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
