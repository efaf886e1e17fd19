def main(argv=None):  # placeholder until the CLI lands
    raise SystemExit("not yet")
