"""What the test suites share: ports, gateway processes, Redis servers, stores and tenancy configs."""
