"""Inbound interfaces: HTTP (FastAPI: health, FHIR, review queue), MLLP (HL7 v2) and the CLI."""
