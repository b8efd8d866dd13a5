//! seccomp filters: Docker's default profile and Docker-format profiles, compiled with seccompiler
