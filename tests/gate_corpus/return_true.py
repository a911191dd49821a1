# expect: constant_output
"""The research log's best CoLA skill: 68% accuracy, exactly the majority rate."""


def solve(text):
    return True
