"""The Tidings CDK app: one stack, built from `tidings.app.APPLICATION`."""
