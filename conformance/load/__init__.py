"""Loading: case and target files (checked against their schemas), media fixtures, the expectation
language, the plan, and captured cassettes."""
