// The demo moves here (issue 10).
