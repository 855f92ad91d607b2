"""What the runtime needs from the operating system, beside any backend.

:mod:`.portable` makes shared memory and pipes (memfd or POSIX shared memory); :mod:`.processes`
controls processes (parent-death signal, child subreaper, process-group kill, descriptor limit).
Used by the local backend, the worker daemon and the backend seam; imports nothing of fastparl.
"""
