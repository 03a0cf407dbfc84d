"""riftdrill.report"""
