"""HTTP plumbing the API, the console and the subscriber pages share."""
