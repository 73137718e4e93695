"""A stand-in for the dbt Cloud API: real Django and Django REST framework with the URL shapes the
dbt API uses, whose every view says what it saw. See tests/e2e/differential/README.md."""
