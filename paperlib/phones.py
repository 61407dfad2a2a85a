"""The phone inventory of the dense content targets (the aligner's labels, the content encoder's phone head)."""

# CMUdict's 39 phones; index 0 is silence (pocketsphinx's SIL and fillers)
PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
          "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW",
          "V", "W", "Y", "Z", "ZH")
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
QUARTERS = 4                            # phone labels per token frame (12 ms each, like the mel front end)
