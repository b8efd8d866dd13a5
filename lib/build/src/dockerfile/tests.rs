use super::*;

fn commands(text: &str) -> Vec<Command> {
    parse(text)
        .unwrap()
        .instructions
        .into_iter()
        .map(|i| i.command)
        .collect()
}

fn one(line: &str) -> Command {
    parse_instruction(line, Vec::new(), '\\').unwrap()
}

#[test]
fn every_instruction_parses() {
    let text = r#"
ARG BASE=busybox
FROM --platform=linux/amd64 ${BASE} AS Build
RUN echo hi
RUN ["echo", "exec"]
CMD ["sh"]
ENTRYPOINT /bin/init
COPY --from=build --chown=1:2 --chmod=640 --link a b /dst/
ADD x.tar /opt/
ENV A=1 B="two words"
ENV LEGACY some value
ARG X Y=2
LABEL org.a=b "c d"=e
WORKDIR /srv
USER 1000:1000
EXPOSE 80 53/udp
VOLUME ["/data"]
VOLUME /a /b
STOPSIGNAL SIGTERM
SHELL ["/bin/ash", "-c"]
HEALTHCHECK --interval=5s --retries=3 CMD true
HEALTHCHECK NONE
ONBUILD RUN echo later
MAINTAINER someone
"#;
    let c = commands(text);
    assert_eq!(c.len(), 23);
    assert_eq!(
        c[1],
        Command::From {
            image: "${BASE}".into(),
            alias: Some("build".into()),
            platform: Some("linux/amd64".into())
        }
    );
    assert!(matches!(&c[2], Command::Run { line: CommandLine::Shell(s), .. } if s == "echo hi"));
    assert!(
        matches!(&c[3], Command::Run { line: CommandLine::Exec(a), .. } if a == &["echo", "exec"])
    );
    assert_eq!(c[4], Command::Cmd(CommandLine::Exec(vec!["sh".into()])));
    assert_eq!(
        c[5],
        Command::Entrypoint(CommandLine::Shell("/bin/init".into()))
    );
    let Command::Copy(copy) = &c[6] else {
        panic!("{:?}", c[6])
    };
    assert_eq!(copy.sources, ["a", "b"]);
    assert_eq!(copy.dest, "/dst/");
    assert_eq!(copy.from.as_deref(), Some("build"));
    assert_eq!(copy.chown.as_deref(), Some("1:2"));
    assert_eq!(copy.chmod.as_deref(), Some("640"));
    assert!(copy.link);
    assert!(matches!(&c[7], Command::Add(a) if a.sources == ["x.tar"]));
    assert_eq!(
        c[8],
        Command::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into())
        ])
    );
    assert_eq!(
        c[9],
        Command::Env(vec![("LEGACY".into(), "some value".into())])
    );
    assert_eq!(
        c[10],
        Command::Arg(vec![("X".into(), None), ("Y".into(), Some("2".into()))])
    );
    assert!(matches!(&c[11], Command::Label(l) if l.len() == 2 && l[1].0 == "\"c d\""));
    assert_eq!(c[12], Command::Workdir("/srv".into()));
    assert_eq!(c[13], Command::User("1000:1000".into()));
    assert_eq!(c[14], Command::Expose(vec!["80".into(), "53/udp".into()]));
    assert_eq!(c[15], Command::Volume(vec!["/data".into()]));
    assert_eq!(c[16], Command::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(c[17], Command::StopSignal("SIGTERM".into()));
    assert_eq!(c[18], Command::Shell(vec!["/bin/ash".into(), "-c".into()]));
    let Command::Healthcheck(Some(h)) = &c[19] else {
        panic!()
    };
    assert_eq!(h.interval, Some(Duration::from_secs(5)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(h.test, CommandLine::Shell("true".into()));
    assert_eq!(c[20], Command::Healthcheck(None));
    assert_eq!(c[21], Command::Onbuild("RUN echo later".into()));
    assert_eq!(c[22], Command::Maintainer("someone".into()));
}

#[test]
fn instructions_are_case_insensitive_and_keep_their_lines() {
    let file = parse("from a\n\nrun echo \\\n  two\ncmd x\n").unwrap();
    let lines: Vec<(usize, &str)> = file
        .instructions
        .iter()
        .map(|i| (i.line, i.command.keyword()))
        .collect();
    assert_eq!(lines, [(1, "FROM"), (3, "RUN"), (5, "CMD")]);
}

#[test]
fn run_mounts_and_network() {
    let Command::Run {
        mounts, network, ..
    } = one(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=x,target=/x,rw \
         --mount=type=tmpfs,target=/t,size=1024 --mount=type=secret,id=tok --network=none make",
    )
    else {
        panic!()
    };
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(mounts[0].kind, MountKind::Cache);
    assert_eq!(mounts[0].id.as_deref(), Some("/root/.cache"));
    assert!(!mounts[0].readonly);
    assert_eq!(mounts[1].kind, MountKind::Bind);
    assert!(!mounts[1].readonly);
    assert_eq!(mounts[1].source.as_deref(), Some("x"));
    assert_eq!(mounts[2].size, Some(1024));
    assert_eq!(mounts[3].target, "/run/secrets/tok");
    assert!(parse_instruction("RUN --mount=type=nfs,target=/x a", Vec::new(), '\\').is_err());
    assert!(parse_instruction("RUN --mount=type=cache a", Vec::new(), '\\').is_err());
    assert!(parse_instruction("RUN --network=bridge2 a", Vec::new(), '\\').is_err());
}

#[test]
fn heredocs_belong_to_their_instruction() {
    let c =
        commands("FROM a\nRUN <<EOF\nset -e\necho $HOME\nEOF\nCOPY <<EOT /etc/motd\nhello\nEOT\n");
    let Command::Run { heredocs, line, .. } = &c[1] else {
        panic!()
    };
    assert_eq!(line, &CommandLine::Shell("<<EOF".into()));
    assert_eq!(heredocs[0].content, "set -e\necho $HOME\n");
    let Command::Copy(copy) = &c[2] else { panic!() };
    assert!(copy.sources.is_empty());
    assert_eq!(copy.dest, "/etc/motd");
    assert_eq!(copy.heredocs[0].content, "hello\n");
}

#[test]
fn errors_name_their_line() {
    let err = parse("FROM a\nRUN x\nFOO bar\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(
        err.to_string(),
        "dockerfile parse error on line 3: unknown instruction: FOO"
    );
    assert_eq!(parse("FROM a\nCOPY onlyone\n").unwrap_err().line, 2);
    assert_eq!(parse("FROM a b\n").unwrap_err().line, 1);
    assert!(parse("FROM a\nCOPY --bogus=1 a b\n")
        .unwrap_err()
        .message
        .contains("unknown flag: bogus"));
    assert_eq!(parse("ENV A=1\nFROM a\n").unwrap_err().line, 1);
    assert!(parse("ARG A=1\n").is_err());
    assert_eq!(parse("FROM a\nSHELL sh -c\n").unwrap_err().line, 2);
    assert!(parse("FROM a\nONBUILD ONBUILD RUN x\n").is_err());
    assert!(parse("FROM a\nHEALTHCHECK --interval=often CMD x\n").is_err());
}

#[test]
fn arg_before_from_is_allowed() {
    let c = commands("ARG V=1\nARG W\nFROM img:${V}\n");
    assert_eq!(c.len(), 3);
}
