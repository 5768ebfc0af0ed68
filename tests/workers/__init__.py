"""Worker scripts the store tests run as real subprocesses (see ``common.spawn``)."""
