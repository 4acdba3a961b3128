"""Targets, the Markdown tables, the gnuplot chart, and the generated part of docs/performance.md."""

import json
from pathlib import Path

from .common import BenchError, run_checked

BEGIN = "<!-- bench/run results: begin (generated; a full run replaces everything up to the end marker) -->"
END = "<!-- bench/run results: end -->"

# Each family's gatiod and its peers, each peer compared with gatiod on its own.
PEERS = {"http": ("gatiod-http", ("nginx", "h2o")), "files": ("gatiod-files", ("nginx-files",)),
         "resp": ("gatiod-resp", ("redis-server",)), "proxy": ("gatiod-proxy", ("haproxy", "nginx-stream"))}


def peers(rec):
    """gatiod's name and the peers this record measured (results from before h2o lack it)."""
    g, names = PEERS[rec["family"]]
    return g, [p for p in names if p in rec["sides"]]


def _median(rec, side, metric):
    m = rec["sides"][side]["summary"].get(metric)
    return None if m is None else m["median"]


def _saturated(rec, side):
    busy = _median(rec, side, "server_busy")
    return busy is not None and busy >= 0.9


def ratios(rec, p):
    """gatiod / peer p for CPU and system calls per request, peer / gatiod for throughput (the
    latter only when both servers were saturated): below 1 favours gatiod in every column."""
    g = PEERS[rec["family"]][0]
    out = {"gatiod": g, "peer": p}
    for metric in ("cpu_us_per_req", "syscalls_per_req"):
        a, b = _median(rec, g, metric), _median(rec, p, metric)
        out[metric] = a / b if a is not None and b else None
    both = _saturated(rec, g) and _saturated(rec, p)
    out["both_saturated"] = both
    out["rps"] = _median(rec, p, "rps") / _median(rec, g, "rps") if both else None
    return out


def evaluate_targets(results):
    cases = {r["id"]: r for r in results["cases"]}
    targets = []

    def cpu_target(case_id, limit, text, only=None):
        """One target row per peer (or the one named): "ahead of every peer" means each of them."""
        rec = cases.get(case_id)
        if rec is None:
            return
        for peer in peers(rec)[1]:
            if only is not None and peer != only:
                continue
            r = ratios(rec, peer)
            g, p = _median(rec, r["gatiod"], "cpu_us_per_req"), _median(rec, peer, "cpu_us_per_req")
            targets.append({"target": text.format(peer=peer), "case": rec["title"], "limit": limit,
                            "value": r["cpu_us_per_req"], "shown": f"{r['cpu_us_per_req']:.3f}",
                            "met": r["cpu_us_per_req"] <= limit, "figures": f"{g:.2f} vs {p:.2f} us"})

    def p99_target(case_id):
        """Closed-loop clients on the same connections: each server's own saturating load, so the
        throughputs are quoted beside the latencies."""
        rec = cases.get(case_id)
        if rec is None:
            return
        g = PEERS[rec["family"]][0]
        for peer in peers(rec)[1]:
            a, b = _median(rec, g, "p99_us"), _median(rec, peer, "p99_us")
            if a is None or b is None:
                continue
            ra, rb = _median(rec, g, "rps"), _median(rec, peer, "rps")
            targets.append({"target": f"p99 no worse than {peer}'s", "case": rec["title"], "limit": b,
                            "value": a, "shown": f"{a / b:.3f}", "met": a <= b,
                            "figures": f"{a:,.0f} vs {b:,.0f} us at {ra:,.0f} vs {rb:,.0f} req/s"})

    # Issue 16's targets.
    cpu_target("http-c64-d1", 0.8, "CPU/request <= 0.8 x {peer}, no pipelining")
    for rid in ("http-c64-d16", "http-c256-d16"):
        cpu_target(rid, 0.15, "CPU/request <= 0.15 x {peer}, depth 16", only="nginx")
    for rid in ("set", "get"):
        cpu_target(f"resp-{rid}-p1", 0.85, "CPU/request <= 0.85 x {peer}, no pipelining")
    for case_id in ("http-c64-d1", "resp-set-p1", "resp-get-p1"):
        p99_target(case_id)
    # Issue 15's targets for the data-type commands (SET and GET at -P 16 are issue 16's too).
    for rid in ("set", "get", "incr", "lpush", "rpush", "lpop", "rpop", "sadd", "hset", "spop", "zadd",
                "lrange_100", "mset"):
        cpu_target(f"resp-{rid}-p1", 1.0, "CPU/request <= 1.0 x {peer}, no pipelining (data types)")
        cpu_target(f"resp-{rid}-p16", 0.6, "CPU/request <= 0.6 x {peer}, -P 16")
    cpu_target("files-4k", 0.8, "CPU/request <= 0.8 x {peer}, static 4 KiB file")
    cpu_target("files-1m", 1.0, "CPU/request <= 1.0 x {peer}, static 1 MiB file")
    cpu_target("proxy-http-c64", 0.7, "CPU/request <= 0.7 x {peer}, HTTP through a proxy")
    rec = cases.get("http-c64-d1")
    if rec is not None:
        v = _median(rec, "gatiod-http", "syscalls_per_req")
        targets.append({"target": "syscalls/request <= 0.1, 64 connections, no pipelining", "case": rec["title"],
                        "limit": 0.1, "value": v, "shown": "n/a" if v is None else f"{v:.3f}",
                        "met": None if v is None else v <= 0.1,
                        "figures": "n/a: " + results["syscall_counting"] if v is None else f"{v:.3f}"})
    start = results.get("idle_start")
    if start is not None:
        v = start["rss"]["median"]
        targets.append({"target": "resident memory at start <= 32 MiB", "case": "gatiod on gatio.toml.example",
                        "limit": 32 << 20, "value": v, "shown": f"{v / 1048576:.1f} MiB", "met": v <= 32 << 20,
                        "figures": f"{v / 1048576:.1f} MiB"})
    for idle in results.get("idle", []):
        if idle["kind"] == "gatiod":
            v = idle["bytes_per_conn"]["median"]
            targets.append({"target": "resident memory <= 1 KiB per idle connection",
                            "case": f"{idle['server']}, {idle['connections']:,} connections", "limit": 1024,
                            "value": v, "shown": f"{v:,.0f} B", "met": v <= 1024, "figures": f"{v:,.0f} B"})
    return targets


# ---- formatting ----

def _num(v, digits=2):
    if v is None:
        return "n/a"
    if abs(v) >= 100000:
        return f"{v / 1000:,.0f}k"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _span(summary, metric, digits=2, scale=1.0):
    m = summary.get(metric)
    if m is None:
        return "n/a"
    med, lo, hi = (m[k] * scale for k in ("median", "min", "max"))
    if lo == hi:
        return _num(med, digits)
    return f"{_num(med, digits)} ({_num(lo, digits)}-{_num(hi, digits)})"


def _pct(summary, metric):
    m = summary.get(metric)
    return "n/a" if m is None else f"{m['median'] * 100:.0f}%"


def _latency(summary):
    a, b = summary.get("p50_us"), summary.get("p99_us")
    if a is None or b is None:
        return "n/a"
    return f"{a['median']:,.0f} / {b['median']:,.0f}"


def _ratio(v):
    return "n/a" if v is None else f"{v:.2f}"


def details_table(records, first_column="Case"):
    rows = [f"| {first_column} | Server | req/s | CPU us/req | syscalls/req | vol. cs/req | invol. cs/req | "
            "user share | p50 / p99 us | server busy | client CPU |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for rec in records:
        for name, side in rec["sides"].items():
            s = side["summary"]
            label = rec["title"] if first_column == "Case" else name
            who = name if first_column == "Case" else rec["title"]
            rows.append(f"| {label} | {who} | {_span(s, 'rps', 0)} | {_span(s, 'cpu_us_per_req')} | "
                        f"{_span(s, 'syscalls_per_req', 3)} | {_span(s, 'vol_cs_per_req', 3)} | "
                        f"{_span(s, 'invol_cs_per_req', 4)} | {_pct(s, 'user_share')} | {_latency(s)} | "
                        f"{_pct(s, 'server_busy')} | {_pct(s, 'client_cpu')} |")
    return "\n".join(rows)


def markdown(results, chart_name):
    host, m = results["host"], results["method"]
    out = [BEGIN, ""]
    out.append(f"Run of {results['date']} ({'quick' if results['quick'] else 'full'} mode), "
               f"`{results['file']}`: {host['cpu_model']}, {host['cpus_online']} CPUs, kernel "
               f"{host['kernel']}. Server on CPU {m['server_cpu']}, load generator on CPU {m['client_cpu']}, "
               f"{m['sched']}; {m['reps']} repetitions of "
               f"{m['seconds']:g} s per case and server after a warm-up; system calls counted in separate "
               f"{m['syscall_seconds']:g} s runs ({results['syscall_counting']}). Load average before "
               f"{results['load_before'][0]}, after {results['load_after'][0]} (other work shared the machine "
               f"when above about 2). Figures are medians, (min-max) over the repetitions.")
    for r in results.get("resumed", []):
        out.append("")
        out.append(f"The run stopped and was resumed on {r['date']} (`bench/run --resume`), at commit {r['source']}, "
                   f"for: {', '.join(r['families']) or 'nothing'}.")
    v = results["versions"]
    out.append("")
    out.append(f"Versions: {v['gatiod']} (commit {results['source']}); {v['nginx']}; {v.get('h2o', 'h2o n/a')}; "
               f"{v['redis-server']}; {v.get('haproxy', 'haproxy n/a')}; {v['wrk']}; {v['redis-benchmark']}.")
    answers = {k: a for k, a in results.get("answers", {}).items() if "header_count" in a}
    if answers:
        out.append("HTTP answers: " + "; ".join(f"{k} {a['header_count']} headers ({', '.join(a['headers'])}), "
                                                f"{a['bytes']} bytes" for k, a in answers.items()) + ".")
    out.append("")
    out.append("### Headline ratios")
    out.append("")
    out.append("gatiod / peer for CPU time and system calls per request, peer / gatiod for requests per second "
               "(quoted only when both servers were saturated): below 1 favours gatiod.")
    out.append("")
    out.append("| Case | Peer | CPU/req | syscalls/req | req/s (peer / gatiod) |")
    out.append("|---|---|---|---|---|")
    for rec in results["cases"]:
        if rec["family"] not in PEERS:
            continue
        for peer in peers(rec)[1]:
            r = ratios(rec, peer)
            if r["rps"] is not None:
                thr = _ratio(r["rps"])
            else:
                idle = [n for n in (r["gatiod"], r["peer"]) if not _saturated(rec, n)]
                thr = "not quoted: " + ", ".join(idle) + " not saturated"
            out.append(f"| {rec['title']} | {r['peer']} | {_ratio(r['cpu_us_per_req'])} | "
                       f"{_ratio(r['syscalls_per_req'])} | {thr} |")
    out.append("")
    out.append("### Targets")
    out.append("")
    out.append("| Target | Case | Figures | Ratio or value | Met |")
    out.append("|---|---|---|---|---|")
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "**not met**")
        out.append(f"| {t['target']} | {t['case']} | {t['figures']} | {t['shown']} | {met} |")
    out.append("")
    if chart_name:
        out.append(f"![CPU time per request and throughput, gatiod and its peers]({chart_name})")
        out.append("")
    out.append("### Every case")
    out.append("")
    out.append(details_table([r for r in results["cases"] if r["family"] != "echo"]))
    echo = [r for r in results["cases"] if r["family"] == "echo"]
    if echo:
        out.append("")
        out.append("Echo (gatiod alone: the in-tree load generator checks every echoed byte; no peer is run):")
        out.append("")
        out.append(details_table(echo))
    if results.get("ablation"):
        rec = results["ablation"][0]
        base = rec["sides"]["gatiod all on"]["summary"]
        out.append("")
        out.append(f"### Ablation: {rec['title']}, one io_uring switch changed from its default at a time")
        out.append("")
        out.append("nginx runs in the same alternation: its row is the peer at the same load.")
        out.append("")
        out.append("| Configuration | req/s | CPU us/req | syscalls/req | vol. cs/req | p50 / p99 us | CPU vs all on "
                   "| CPU vs nginx |")
        out.append("|---|---|---|---|---|---|---|---|")
        peer = rec["sides"].get("nginx")
        for name, side in rec["sides"].items():
            s = side["summary"]
            rel = s["cpu_us_per_req"]["median"] / base["cpu_us_per_req"]["median"]
            vs = (_ratio(s["cpu_us_per_req"]["median"] / peer["summary"]["cpu_us_per_req"]["median"])
                  if peer else "n/a")
            out.append(f"| {name.removeprefix('gatiod ')} | {_span(s, 'rps', 0)} | {_span(s, 'cpu_us_per_req')} | "
                       f"{_span(s, 'syscalls_per_req', 3)} | {_span(s, 'vol_cs_per_req', 3)} | {_latency(s)} | "
                       f"{rel:.2f} | {vs} |")
    if results.get("idle"):
        out.append("")
        out.append("### Idle connections")
        out.append("")
        out.append("Each connection makes one request, reads the answer, and stays open. Resident memory (VmRSS, "
                   "every process of the server) with the connections open, minus that of the same fresh "
                   "process before them; kernel socket memory is not part of it.")
        out.append("")
        out.append("Every server was started with the same connection limit "
                   f"({results['idle'][0]['connection_limit']:,}). What a server reserves for that limit up "
                   "front is in its empty process already; the last column estimates it per slot, from a second "
                   f"fresh process with a limit of {results['idle'][0]['small_limit']:,}.")
        out.append("")
        out.append("| Server | Connections | Source addresses | Empty process RSS | Bytes per connection above it "
                   "| Reserved per slot |")
        out.append("|---|---|---|---|---|---|")
        for i in results["idle"]:
            out.append(f"| {i['server']} | {i['connections']:,} | {i['sources']} | "
                       f"{i['empty_rss'] / 1048576:.1f} MiB | {_span(i, 'bytes_per_conn', 0)} | "
                       f"{i['reserved_per_slot']:,.0f} B |")
        if results.get("idle_note"):
            out.append("")
            out.append(results["idle_note"])
    out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def chart(results, png, workdir):
    # The proxy family has tables of its own: its peers are not the chart's.
    comparisons = [r for r in results["cases"] if r["family"] in PEERS and r["family"] != "proxy"]
    if not comparisons:
        return False
    data = Path(workdir) / "chart.dat"
    lines = []
    for rec in comparisons:
        # Columns: gatiod, then the first and the second peer (NaN, no bar, where there is none).
        g, names = peers(rec)
        sides = [g] + names[:2] + [None] * (2 - len(names[:2]))

        def col(side, metric, scale=1.0):
            return "NaN" if side is None else f"{_median(rec, side, metric) * scale:.4f}"
        label = rec["id"].replace("resp-", "").replace("http-", "http ").replace("-", " ")
        lines.append(f'"{label}" ' + " ".join(col(x, "cpu_us_per_req") for x in sides) + " " +
                     " ".join(col(x, "rps", 0.001) for x in sides))
    data.write_text("\n".join(lines) + "\n")
    # A series with no bar at all (h2o when only the resp family ran) is left out: gnuplot
    # refuses a histogram without points.
    h2o = any(peers(rec)[1][1:] for rec in comparisons)

    def series(first):
        out = f'"{data}" using {first}:xtic(1) title "gatiod" lc rgb "#1f77b4", "" using {first + 1} ' \
              f'title "nginx / redis-server" lc rgb "#d62728"'
        return out + (f', "" using {first + 2} title "h2o" lc rgb "#2ca02c"' if h2o else "")
    script = Path(workdir) / "chart.gp"
    script.write_text(f"""set terminal pngcairo size 1100,820 font "DejaVu Sans,10"
set output "{png}"
set multiplot layout 2,1 title "gatiod (one driver) vs nginx and h2o / redis-server (one worker), {results['date']}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
set grid ytics
set xtics rotate by -25 scale 0
set yrange [0:*]
set ylabel "server CPU time per request (us)"
plot {series(2)}
set ylabel "requests per second (thousands)"
plot {series(5)}
unset multiplot
""")
    run_checked(["gnuplot", script], "drawing the chart", timeout=60)
    return True


def replace_in_doc(doc, block):
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block.rstrip("\n") + tail
    elif BEGIN in text or END in text:
        raise BenchError(f"{doc}: only one of the two result markers is present; fix the file by hand")
    else:
        text = text.rstrip("\n") + "\n\n## Benchmark results\n\n" + block
    doc.write_text(text)


def write_json(results, path):
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
