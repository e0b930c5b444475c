"""The test kit: pytest plugins (fixtures, assertions, the compose target switch), the
fault targets behind one interface (native and compose), client traffic, an OTLP
receiver, and scaling helpers. `make up` never imports it; the launcher is the rest of
`devstack`."""
