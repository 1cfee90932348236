"""What an auditor must know about each registered dataset: provenance, skew, label quality.

The report prints these notes under "Data" for an audit of that dataset.
"""

from __future__ import annotations

NOTES: dict[str, list[str]] = {
    "lfw": [
        (
            "Labeled Faces in the Wild (deep-funneled; Huang et al. 2007, 2012): 13,233 press "
            "photos of 5,749 public figures, collected from news sites. Research use only."
        ),
        (
            "LFW is heavily skewed towards White men, mostly middle-aged; women and non-White "
            "groups are small, so their intervals are wide."
        ),
        (
            "Gender labels are per image (Afifi & Abdelhamed 2017, manually verified lists); 5 "
            "images are in both lists ('ambiguous') and 4 in neither ('unknown')."
        ),
        (
            "Ancestry labels cover only 866 of the 5,749 people: USC SAIL's per-identity labels "
            "come from IMDb-style ancestry metadata, not from the images. Everyone else is "
            "'unknown', which is not a demographic group but missing data; a person listed with "
            "several ancestries is 'multiple'."
        ),
        (
            "Photos of one person often come from one event, and pairs include near-duplicates: "
            "genuine scores may be optimistic compared with operational data."
        ),
    ],
    "frll": [
        (
            "Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0, "
            "doi:10.6084/m9.figshare.5047666.v5): 102 consenting adults photographed in London in"
            " 2012, a neutral and a smiling frontal photo each (resized to 675×675 here)."
        ),
        (
            "Labels (age, gender, ethnicity) are self-reported. Non-White groups have only 4–8 "
            "people per gender: every per-group figure for them is thin."
        ),
        (
            "Both photos of a person come from one studio session, differing only in expression: "
            "genuine scores are optimistic compared with operational data."
        ),
    ],
}
