"""`signpost bench`: each stage of Signpost against the embedded broker's own limit, one run."""
