"""Makes tokenizer goldens from the reference tokenizers, on the real files in ../shared/data.

- RWKV World: BlinkDL's RWKV_TOKENIZER class from RWKV-v7/rwkv_v7_demo_rnn.py (executed
  from the reference file; only the class is run).
- GPT-NeoX tokenizer.json: OpenAI's byte-level BPE reference, gpt-2 src/encoder.py (the
  algorithm HF's ByteLevel BPE reproduces), driven as HF drives it for this file: NFC
  normalization, and the file's added tokens (runs of spaces, <|endoftext|>) split out first,
  longest first.

    git -C RWKV-LM show HEAD:RWKV-v7/rwkv_v7_demo_rnn.py > /tmp/rwkv_v7_demo_rnn.py
    git -C gpt-2 show HEAD:src/encoder.py > /tmp/gpt2_encoder.py
    python3 tools/make_tokenizer_goldens.py --rwkv /tmp/rwkv_v7_demo_rnn.py --gpt2 /tmp/gpt2_encoder.py \
        --data ../shared/data --out tests/fixtures/tokenizers

Needs Debian's python3-regex.
"""

import argparse
import json
import os
import unicodedata

import regex

SPECIAL = [
    "Hello world",
    "emoji: 😀👍🏽🇯🇵 and a family 👨‍👩‍👧",
    "中文分词测试，日本語のテキスト、한국어 텍스트",
    "mixed: naïve café — “quotes” ‘single’ … ½ × ÷",
    "tabs\tand\nnewlines\r\n  two spaces   three    four",
    "code: def f(x):\n    return x ** 2  # comment",
    "",
    " leading space",
    "trailing space ",
    "numbers 1234567890 3.14159 -42",
]
INVALID_BYTES = ["ff", "c3", "e4b8", "f09f98", "80808080", "41c3284142", "eda080"]


def load_world(path):
    src = open(path, encoding="utf-8").read()
    start = src.index("class RWKV_TOKENIZER")
    end = src.index("tokenizer = RWKV_TOKENIZER")
    ns = {}
    exec(compile(src[start:end], path, "exec"), ns)
    return ns["RWKV_TOKENIZER"]


def load_neox(encoder_path, tokenizer_json):
    ns = {"__name__": "gpt2_encoder"}
    exec(compile(open(encoder_path, encoding="utf-8").read(), encoder_path, "exec"), ns)
    j = json.load(open(tokenizer_json, encoding="utf-8"))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
    enc = ns["Encoder"](j["model"]["vocab"], merges)
    added = sorted((t["content"] for t in j["added_tokens"]), key=len, reverse=True)
    added_ids = {t["content"]: t["id"] for t in j["added_tokens"]}
    split = regex.compile("(" + "|".join(regex.escape(a) for a in added) + ")")

    def encode(text):
        out = []
        for piece in split.split(text):
            if piece in added_ids:
                out.append(added_ids[piece])
            elif piece:
                out.extend(enc.encode(unicodedata.normalize("NFC", piece)))
        return out

    return encode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rwkv", required=True)
    ap.add_argument("--gpt2", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--passages", type=int, default=300)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.data, "lambada_test.jsonl"), encoding="utf-8") as f:
        passages = [json.loads(line)["text"] for line in f][: args.passages]

    world = load_world(args.rwkv)(os.path.join(args.data, "rwkv_vocab_v20230424.txt"))
    cases = [{"text": t, "ids": world.encode(t)} for t in passages + SPECIAL]
    cases += [{"hex": h, "ids": world.encodeBytes(bytes.fromhex(h))} for h in INVALID_BYTES]
    with open(os.path.join(args.out, "world_goldens.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "BlinkDL RWKV_TOKENIZER (rwkv_v7_demo_rnn.py)", "cases": cases}, f, ensure_ascii=False)

    neox = load_neox(args.gpt2, os.path.join(args.data, "20B_tokenizer.json"))
    cases = [{"text": t, "ids": neox(t)} for t in passages + SPECIAL]
    with open(os.path.join(args.out, "neox_goldens.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "openai/gpt-2 src/encoder.py over 20B_tokenizer.json (NFC, added tokens first)",
                   "cases": cases}, f, ensure_ascii=False)
    print(f"{len(passages)} passages + {len(SPECIAL)} special strings")


if __name__ == "__main__":
    main()
