"""netcheck: is this site's network ready for Amazon EKS Hybrid Nodes — GO or NO-GO?"""

__version__ = "0.1.0"
