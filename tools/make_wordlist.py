"""Rebuild ``bot/common_words.txt``: the everyday English words the typo corrector leaves alone.

Needs ``pip install wordfreq`` (not a dependency of the bot: the list is built once and shipped,
so the bot does not load wordfreq's 50 MB of data at start-up).

    python tools/make_wordlist.py > bot/common_words.txt
"""

from wordfreq import iter_wordlist, zipf_frequency

HEADER = """\
# Common English words (five letters or more) that the typo corrector must leave alone:
# "score" is a word, not a typo for "store". Built by tools/make_wordlist.py from wordfreq 3.1.1
# (https://github.com/rspeer/wordfreq): every ASCII word with a Zipf frequency of 3.3 or more.
# Derived from wordfreq's data, which is licensed CC BY-SA 4.0
# (https://creativecommons.org/licenses/by-sa/4.0/); this list is shared under the same licence."""

# Zipf 3.3 keeps real words ("prosecuted" 3.6, "score" 4.8) and leaves out common misspellings
# ("seperate" 2.8, "goverment" 2.7, "attendence" 1.6), which must still be corrected.
MIN_ZIPF = 3.3


def main() -> None:
    words = sorted(
        {
            w
            for w in iter_wordlist("en", "small")
            if len(w) >= 5 and w.isascii() and w.isalpha() and zipf_frequency(w, "en") >= MIN_ZIPF
        }
    )
    print(HEADER)
    print("\n".join(words))


if __name__ == "__main__":
    main()
