"""Running a planned test: modes (live, record, replay), transport, cassettes, concurrency, sending ahead."""
