"""HL7 v2 over MLLP: the ITI-8 feed and ITI-9 PIX query adapter (see server.py for how to run it)."""
