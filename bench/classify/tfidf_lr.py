#!/usr/bin/env python3
"""The baseline of the classification bench: TF-IDF (word 1-2 grams, sublinear tf) and a
multinomial logistic regression (sklearn), trained on TRAIN.csv and scored on TEST.csv
(text,label), with the metrics ordo classify eval prints. One JSON line.
usage: python3 tfidf_lr.py TRAIN.csv TEST.csv"""
import csv
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    xtr, ytr = read(sys.argv[1])
    xte, yte = read(sys.argv[2])
    t0 = time.time()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    clf = LogisticRegression(C=10.0, max_iter=2000)
    clf.fit(vec.fit_transform(xtr), ytr)
    train_s = time.time() - t0
    pred = clf.predict(vec.transform(xte))
    print(json.dumps({"method": "tfidf+logreg", "train_rows": len(xtr), "test_rows": len(xte),
                      "features": len(vec.vocabulary_), "train_s": round(train_s, 2),
                      "accuracy": round(accuracy_score(yte, pred), 4),
                      "macro_f1": round(f1_score(yte, pred, average="macro"), 4)}))


if __name__ == "__main__":
    main()
