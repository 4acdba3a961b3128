"""Reads the Prometheus text exposition format from the file named by the only argument with the
reference parser (python3-prometheus-client) and prints what it understood, one line each:

    family NAME TYPE HELP_LENGTH
    sample NAME LABEL=VALUE,... VALUE

A text the parser rejects makes it raise, which exits non-zero with the reason on stderr.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    for family in text_string_to_metric_families(text):
        print(f"family {family.name} {family.type} {len(family.documentation)}")
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            print(f"sample {sample.name} {labels} {sample.value!r}")


main()
